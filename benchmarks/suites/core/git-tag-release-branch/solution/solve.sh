#!/bin/bash
# Oracle: find the commit by exact subject, tag it with the tagger identity from the environment.

git clone /app/releases.bundle /app/repo

export GIT_COMMITTER_NAME="Release Bot"
export GIT_COMMITTER_EMAIL=release@example.com
git -C /app/repo tag -a v1.2.0 -m "Version 1.2.0" "$(git -C /app/repo log --format=%H --grep='^Release 1.2.0$' main | head -n 1)"

git -C /app/repo branch hotfix/1.2.x v1.2.0
