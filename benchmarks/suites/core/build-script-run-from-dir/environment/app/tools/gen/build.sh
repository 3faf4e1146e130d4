#!/bin/bash
# Static site generator: every ../../content/NAME.md becomes ../../public/NAME.html.
# Run it from this directory: ./build.sh
set -e
if [ ! -f ./templates/page.html ]; then
    echo "build.sh: templates/page.html not found; run me from tools/gen" >&2
    exit 1
fi
. ./site.conf
mkdir -p bin ../../public
gcc -O2 -o bin/wordcount ../../src/wordcount.c
pages=$(cd ../../content && ls *.md | sort)
nav=""
for f in $pages; do
    title=$(head -n 1 "../../content/$f" | sed 's/^# //')
    nav="$nav<a href=\"${f%.md}.html\">$title</a> "
done
for f in $pages; do
    title=$(head -n 1 "../../content/$f" | sed 's/^# //')
    body=$(tail -n +2 "../../content/$f" | awk 'BEGIN { RS = "" } { gsub(/\n/, " "); print "<p>" $0 "</p>" }')
    words=$(tail -n +2 "../../content/$f" | ./bin/wordcount)
    sed -e "s|@SITE@|$SITE_TITLE|g" -e "s|@TITLE@|$title|g" -e "s|@NAV@|${nav% }|" -e "s|@WORDS@|$words|" \
        templates/page.html > "../../public/${f%.md}.html.tmp"
    while IFS= read -r line; do
        if [ "$line" = "@BODY@" ]; then printf '%s\n' "$body"; else printf '%s\n' "$line"; fi
    done < "../../public/${f%.md}.html.tmp" > "../../public/${f%.md}.html"
    rm "../../public/${f%.md}.html.tmp"
done
echo "built $(echo $pages | wc -w) pages into ../../public"
