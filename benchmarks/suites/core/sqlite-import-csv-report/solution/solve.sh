#!/bin/bash
# Oracle: typed table, CSV import with the sqlite3 CLI, a report query.

# sim: first-try sqlite3 /app/inventory.db < /app/schema.sql
sqlite3 /app/inventory.db "CREATE TABLE IF NOT EXISTS items (sku TEXT PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, qty INTEGER NOT NULL, unit_price REAL NOT NULL);"

# sim: prefers sqlite-utils insert /app/inventory.db items /app/items.csv --csv
sqlite3 /app/inventory.db -cmd ".mode csv" ".import --skip 1 /app/items.csv items"
sqlite3 /app/inventory.db "SELECT count(*), typeof(qty), typeof(unit_price) FROM items GROUP BY 2, 3;"

sqlite3 /app/inventory.db "SELECT sku || '|' || name || '|' || qty FROM items WHERE qty < 10 ORDER BY qty, sku;" > /app/low_stock.txt
