#!/bin/bash
# Oracle: pickaxe (-S) on main, oldest first; then read that commit's metadata.

git clone /app/history.bundle /app/repo

cd /app/repo
git log -S'retry_backoff(' --reverse --format=%H main | head -n 1 > /app/answer_sha.txt

git -C /app/repo log -1 --format=%s "$(cat /app/answer_sha.txt)" > /app/answer_subject.txt

git -C /app/repo log -1 --format='%an <%ae>' "$(cat /app/answer_sha.txt)" > /app/answer_author.txt

git -C /app/repo show --name-only --format= "$(cat /app/answer_sha.txt)" | sort > /app/answer_files.txt

git -C /app/repo rev-list --count main -- src/net.py > /app/net_commits.txt
