"""Checks the index, the saved query plan and the August latency report (recomputed in Python)."""
import collections, csv, math, sqlite3
from pathlib import Path

assert Path("/app/metrics.db").is_file(), "/app/metrics.db is missing"
con = sqlite3.connect("file:/app/metrics.db?mode=ro", uri=True)
idx = con.execute("SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = 'idx_requests_endpoint_ts'").fetchone()
assert idx == ("requests",), "index idx_requests_endpoint_ts on requests is missing"
assert [r[2] for r in con.execute("PRAGMA index_info(idx_requests_endpoint_ts)")] == ["endpoint", "ts"], "index columns"
plan = " ".join(r[3] for r in con.execute(
    "EXPLAIN QUERY PLAN SELECT count(*) FROM requests WHERE endpoint = '/api/orders' AND ts >= '2024-08-01'"))
assert "idx_requests_endpoint_ts" in plan, f"the index is not used: {plan}"

orig = sqlite3.connect("file:/tests/metrics.db?mode=ro", uri=True)
q = "SELECT id, ts, endpoint, status, latency_ms FROM requests ORDER BY id"
assert con.execute(q).fetchall() == orig.execute(q).fetchall(), "the requests data changed"

qp = Path("/app/query_plan.txt")
assert qp.is_file(), "/app/query_plan.txt is missing"
text = qp.read_text()
assert "idx_requests_endpoint_ts" in text and "SEARCH" in text.upper(), f"query_plan.txt: {text!r}"

lat, err = collections.defaultdict(list), collections.Counter()
for ts, ep, st, ms in orig.execute("SELECT ts, endpoint, status, latency_ms FROM requests"):
    if "2024-08-01T00:00:00" <= ts < "2024-09-01T00:00:00":
        lat[ep].append(ms)
        err[ep] += st >= 500
expected = [["endpoint", "requests", "errors", "p95_ms"]]
for ep in sorted(lat):
    v = sorted(lat[ep])
    expected.append([ep, str(len(v)), str(err[ep]), str(v[math.ceil(0.95 * len(v)) - 1])])
path = Path("/app/latency_report.csv")
assert path.is_file(), "/app/latency_report.csv is missing"
got = [r for r in csv.reader(path.read_text().splitlines()) if r]
assert got == expected, f"latency_report.csv: got {got}, expected {expected}"
print("ok")
