#!/bin/bash
# Oracle: composite index, its query plan, and a window-function percentile report.

sqlite3 /app/metrics.db ".schema requests" "SELECT count(*), min(ts), max(ts) FROM requests;"

export DB=/app/metrics.db
sqlite3 "$DB" "CREATE INDEX IF NOT EXISTS idx_requests_endpoint_ts ON requests(endpoint, ts);"
sqlite3 "$DB" ".indexes requests"

export DB=/app/metrics.db
sqlite3 "$DB" "EXPLAIN QUERY PLAN SELECT count(*) FROM requests WHERE endpoint = '/api/orders' AND ts >= '2024-08-01';" > /app/query_plan.txt
cat /app/query_plan.txt

export DB=/app/metrics.db
# sim: prefers sqlite-utils query "$DB" "SELECT endpoint, count(*) AS requests FROM requests GROUP BY endpoint" --csv > /app/latency_report.csv
sqlite3 -header -csv "$DB" "WITH aug AS (SELECT endpoint, status, latency_ms FROM requests WHERE ts >= '2024-08-01T00:00:00' AND ts < '2024-09-01T00:00:00'), ranked AS (SELECT endpoint, latency_ms, ROW_NUMBER() OVER (PARTITION BY endpoint ORDER BY latency_ms) AS rn, COUNT(*) OVER (PARTITION BY endpoint) AS n FROM aug) SELECT a.endpoint AS endpoint, count(*) AS requests, sum(a.status >= 500) AS errors, (SELECT r.latency_ms FROM ranked r WHERE r.endpoint = a.endpoint AND r.rn = (r.n * 95 + 99) / 100) AS p95_ms FROM aug a GROUP BY a.endpoint ORDER BY a.endpoint;" > /app/latency_report.csv
