import sys

from .convert import convert


def main(argv):
    if len(argv) != 3:
        print("usage: python3 -m unitconv VALUE FROM TO", file=sys.stderr)
        return 2
    value, src, dst = float(argv[0]), argv[1].lower(), argv[2].lower()
    print(f"{convert(value, src, dst):.3f} {dst}")
    return 0


sys.exit(main(sys.argv[1:]))
