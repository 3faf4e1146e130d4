"""Write one `slug<TAB>title` line per title.

usage: python3 make_slugs.py TITLES_FILE OUTPUT_FILE
"""
import sys

from textutil import slugify


def main():
    src, dest = sys.argv[1], sys.argv[2]
    with open(src, encoding="utf-8") as f:
        titles = [line.rstrip("\n") for line in f if line.strip()]
    with open(dest, "w", encoding="utf-8") as out:
        for title in titles:
            out.write(f"{slugify(title)}\t{title}\n")


if __name__ == "__main__":
    main()
