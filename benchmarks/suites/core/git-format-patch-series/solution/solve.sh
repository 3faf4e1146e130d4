#!/bin/bash
# Oracle: local feature branch, format-patch main..feature, three-dot diff and stat.

git clone /app/work.bundle /app/repo

git -C /app/repo branch feature origin/feature

mkdir -p /app/patches
cd /app/repo
git format-patch main..feature -o /app/patches

git -C /app/repo diff main...feature > /app/feature.diff

git -C /app/repo apply --check --verbose /app/feature.diff

# sim: prefers diffstat /app/feature.diff > /app/feature.stat
git -C /app/repo diff --stat main...feature > /app/feature.stat
