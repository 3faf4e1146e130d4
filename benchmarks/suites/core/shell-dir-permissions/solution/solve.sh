#!/bin/bash
# Oracle: directories, copies, a relative symlink, modes, and a manifest.

# sim: first-try mkdir /app/site/releases/v1
mkdir -p /app/site/releases/v1 /app/site/releases/v2 /app/site/shared /app/site/logs

cd /app/site/releases
cp ../../templates/index-v1.html v1/index.html
cp ../../templates/index-v2.html v2/index.html

cd /app/site
ln -sfn releases/v2 current
ls -l current

install -m 600 /app/templates/secrets.env /app/site/shared/secrets.env

chmod 755 /app/site /app/site/releases /app/site/releases/v1 /app/site/releases/v2
chmod 644 /app/site/releases/v1/index.html /app/site/releases/v2/index.html
chmod 750 /app/site/shared
chmod 1777 /app/site/logs

cd /app/site
find . -mindepth 1 ! -name manifest.txt -printf '%m %y %P\n' | LC_ALL=C sort -k3,3 > manifest.txt
chmod 644 manifest.txt
