#!/bin/bash
# Oracle: a Makefile with pattern rules, phony targets and an archive.

ls /app/pages && head -n 3 /app/pages/*.txt

# sim: first-try make -C /app dist
cat > /app/Makefile <<'MK'
PAGES := $(wildcard pages/*.txt)
HTML := $(patsubst pages/%.txt,build/%.html,$(PAGES))
.PHONY: all build dist clean
all: dist
build: $(HTML)
dist: dist/site.tar.gz
dist/site.tar.gz: $(HTML)
	mkdir -p dist
	tar -czf $@ -C build $(notdir $(HTML))
build/%.html: pages/%.txt
	mkdir -p build
	awk 'NR == 1 { print "<html><body>"; print "<h1>" $$0 "</h1>"; next } NF { print "<p>" $$0 "</p>" } END { print "</body></html>" }' $< > $@
clean:
	rm -rf build dist
MK

make -C /app build

head -n 4 /app/build/index.html

make -C /app build | grep "Nothing to be done"

make -C /app
