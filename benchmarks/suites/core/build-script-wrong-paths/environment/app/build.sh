#!/bin/bash
# Build the checksum tool into /app/dist.
set -e
SRC_DIR=/app/source
OUT_DIR=/app/dist
mkdir -p "$OUT_DIR"
gcc -O2 -Wall -std=c11 -I"$SRC_DIR" -o "$OUT_DIR/checksum" "$SRC_DIR/checksum.c" "$SRC_DIR/adler.c"
cp /app/src/VERSION "$OUT_DIR/VERSION"
"$OUT_DIR/checksum" --self-test
echo "built checksum $(cat "$OUT_DIR/VERSION")"
