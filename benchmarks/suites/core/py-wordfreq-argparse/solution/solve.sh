#!/bin/bash
# Oracle: argparse with a positive-int type, Counter, then run on the corpus from its folder.

cat > /app/wordfreq.py <<'PY'
"""Count words over files: python3 wordfreq.py [--top N] [--min-length L] [--ignore FILE] [--output PATH] FILE..."""
import argparse
import collections
import re
import sys
def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value
def main(argv=None):
    parser = argparse.ArgumentParser(description="Count the most frequent words in text files.")
    parser.add_argument("--top", type=positive_int, default=10)
    parser.add_argument("--min-length", type=positive_int, default=1)
    parser.add_argument("--ignore")
    parser.add_argument("--output")
    parser.add_argument("files", nargs="+", metavar="FILE")
    args = parser.parse_args(argv)
    ignore = set()
    if args.ignore:
        try:
            with open(args.ignore, encoding="utf-8") as f:
                ignore = {line.strip().lower() for line in f if line.strip()}
        except OSError:
            print(f"error: cannot read {args.ignore}", file=sys.stderr)
            return 1
    counts = collections.Counter()
    for name in args.files:
        try:
            with open(name, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            print(f"error: cannot read {name}", file=sys.stderr)
            return 1
        for word in re.findall(r"[a-z]+", text.lower()):
            if len(word) >= args.min_length and word not in ignore:
                counts[word] += 1
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: args.top]
    lines = ["word\tcount"] + [f"{w}\t{c}" for w, c in rows]
    text = "\n".join(lines) + "\n"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    return 0
if __name__ == "__main__":
    sys.exit(main())
PY

printf 'b a B\nc a b\n' > /tmp/wf-smoke.txt
python3 /app/wordfreq.py --top 2 /tmp/wf-smoke.txt

python3 /app/wordfreq.py --top 0 /tmp/wf-smoke.txt 2>/dev/null; test $? -eq 2 && echo "top 0 rejected"

python3 /app/wordfreq.py /tmp/does-not-exist.txt; test $? -eq 1 && echo "missing file reported"

wc -w /app/corpus/ch1.txt /app/corpus/ch2.txt /app/corpus/ch3.txt

cd /app/corpus
python3 /app/wordfreq.py --top 12 --min-length 4 --ignore stopwords.txt --output /app/top_words.tsv ch1.txt ch2.txt ch3.txt
