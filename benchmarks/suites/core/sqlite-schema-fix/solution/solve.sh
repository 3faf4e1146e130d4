#!/bin/bash
# Oracle: back up, rebuild both tables with proper types and constraints, index, view, report.

cp -p /app/db/shop.db /app/db/shop.db.bak
sqlite3 /app/db/shop.db ".schema" "SELECT count(*) FROM products; SELECT count(*) FROM orders;"

# sim: first-try sqlite3 /app/db/shop.db < /app/db/migrate.sql
cat > /app/db/migrate.sql <<'SQL'
PRAGMA foreign_keys = OFF;
BEGIN;
CREATE TABLE products_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price_cents INTEGER NOT NULL CHECK (price_cents >= 0), category TEXT NOT NULL);
INSERT INTO products_new (id, name, price_cents, category)
  SELECT CAST(id AS INTEGER), trim(name),
         CAST(round(CAST(replace(replace(trim(price), '$', ''), ',', '') AS REAL) * 100) AS INTEGER),
         lower(trim(category))
  FROM products WHERE rowid IN (SELECT max(rowid) FROM products GROUP BY id);
CREATE TABLE orders_new (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES products(id), qty INTEGER NOT NULL CHECK (qty > 0), created TEXT NOT NULL);
INSERT INTO orders_new (id, product_id, qty, created)
  SELECT CAST(id AS INTEGER), CAST(product_id AS INTEGER), CAST(qty AS INTEGER),
         CASE WHEN created LIKE '__/__/____'
              THEN substr(created, 7, 4) || '-' || substr(created, 4, 2) || '-' || substr(created, 1, 2)
              ELSE created END
  FROM orders WHERE CAST(product_id AS INTEGER) IN (SELECT id FROM products_new);
DROP TABLE orders;
DROP TABLE products;
ALTER TABLE products_new RENAME TO products;
ALTER TABLE orders_new RENAME TO orders;
CREATE INDEX idx_orders_product ON orders(product_id);
CREATE VIEW product_revenue AS
  SELECT p.id AS product_id, p.name AS name, coalesce(sum(o.qty * p.price_cents), 0) AS revenue_cents
  FROM products p LEFT JOIN orders o ON o.product_id = p.id GROUP BY p.id;
COMMIT;
SQL

cd /app/db
sqlite3 shop.db < migrate.sql
sqlite3 shop.db ".schema"

sqlite3 /app/db/shop.db "PRAGMA integrity_check; PRAGMA foreign_key_check;"

sqlite3 /app/db/shop.db "SELECT * FROM product_revenue;"

cd /app/db
{
  echo "products=$(sqlite3 shop.db 'SELECT count(*) FROM products')"
  echo "orders=$(sqlite3 shop.db 'SELECT count(*) FROM orders')"
  echo "dropped_orders=$(( $(sqlite3 shop.db.bak 'SELECT count(*) FROM orders') - $(sqlite3 shop.db 'SELECT count(*) FROM orders') ))"
  echo "duplicate_products=$(( $(sqlite3 shop.db.bak 'SELECT count(*) FROM products') - $(sqlite3 shop.db 'SELECT count(*) FROM products') ))"
} > migration_report.txt
