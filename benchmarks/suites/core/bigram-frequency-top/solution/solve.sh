#!/bin/bash
# Oracle: top 10 bigrams without stop words, as a shell pipeline.

# sim: first-try python3 -c "import nltk; print(nltk.__version__)"
ls -l /app/corpus/ && wc -l /app/stopwords.txt

cd /app/corpus
for f in *.txt; do tr 'A-Z' 'a-z' < "$f" | tr -cs "a-z'" '\n' | sed -e "s/^'*//" -e "s/'*\$//" | grep -v '^$' | awk 'NR > 1 { print prev, $0 } { prev = $0 }'; done | awk 'NR == FNR { stop[$1] = 1; next } !($1 in stop) && !($2 in stop)' ../stopwords.txt - | LC_ALL=C sort | uniq -c | LC_ALL=C sort -k1,1nr -k2 | head -n 10 | awk '{ print $2, $3, $1 }' > ../top_bigrams.txt
