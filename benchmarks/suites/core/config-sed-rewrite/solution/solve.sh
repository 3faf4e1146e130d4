#!/bin/bash
# Oracle: section-aware in-place edits with sed, after a backup.

cd /app/config
cp -p app.conf app.conf.orig
grep -n '^\[' app.conf

# sim: first-try sed -i '' '/^\[server\]/,/^\[/s/^port = .*/port = 8080/' /app/config/app.conf
sed -i -e '/^\[server\]/,/^\[/{s/^port = .*/port = 8080/;s/^debug = .*/debug = false/;s/^#workers = .*/workers = 8/}' -e '/^\[database\]/,/^\[/{s/^host = .*/host = db.prod.internal/;s/^#pool_size = /pool_size = /}' -e '/^\[logging\]/,/^\[/s/^level = .*/level = warning/' /app/config/app.conf
