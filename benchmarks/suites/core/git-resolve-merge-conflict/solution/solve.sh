#!/bin/bash
# Oracle: unpack, write both resolutions, stage them, commit the merge with an explicit identity.

tar xzf /app/repo.tar.gz -C /app

cd /app/repo
git status
git diff

printf '[network]\nhost = harbor.local\ntimeout = 45\nretries = 5\n\n[logging]\nlevel = warning\nfile = /var/log/harbor.log\n' > /app/repo/settings.ini

printf '# Changelog\n\n## Unreleased\n\n- Retry up to 5 times.\n- Longer network timeout (45 s).\n\n## 1.0.0\n\n- First release.\n' > /app/repo/CHANGELOG.md

# sim: first-try git -C /app/repo commit -am "Merge branch 'feature'"
cd /app/repo
git add settings.ini CHANGELOG.md
git -c user.name="Merge Bot" -c user.email=merge@example.com commit -m "Merge branch 'feature'"

git -C /app/repo rev-parse HEAD > /app/merge_sha.txt
