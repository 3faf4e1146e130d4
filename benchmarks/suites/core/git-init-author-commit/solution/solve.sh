#!/bin/bash
# Oracle: init on main, stage with .gitignore respected, commit with an explicit identity.

cd /app/project
git init -b main
git add -A

# sim: first-try git -C /app/project commit -m "Initial import of tidewatch"
cd /app/project
git -c user.name="Ada Lovelace" -c user.email=ada@example.com commit -m "Initial import of tidewatch"
