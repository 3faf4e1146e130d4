"""Print count, mean and median of the numbers in a file (one per line).

usage: python3 report.py FILE

Blank lines and lines starting with '#' are ignored.
"""
import sys

from stats import mean, median


def read_numbers(path):
    numbers = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            numbers.append(float(line))
    return numbers


def main():
    if len(sys.argv) != 2:
        print("usage: python3 report.py FILE", file=sys.stderr)
        return 2
    numbers = read_numbers(sys.argv[1])
    print(f"count={len(numbers)}")
    print(f"mean={mean(numbers):.2f}")
    print(f"median={median(numbers):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
