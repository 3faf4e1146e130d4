#!/bin/bash
# Oracle: correct the two paths, build, list checksums, tar from inside dist.

# sim: first-try bash /app/build.sh
sed -i 's|^SRC_DIR=/app/source$|SRC_DIR=/app/src|' /app/build.sh

sed -i 's|^cp /app/src/VERSION |cp /app/VERSION |' /app/build.sh

bash /app/build.sh

/app/dist/checksum /app/data/a.txt /app/data/b.txt /app/data/empty.txt > /app/checksums.txt

mkdir -p /app/release

cd /app/dist
tar czf /app/release/checksum-1.4.2.tar.gz checksum VERSION
