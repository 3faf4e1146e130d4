"""Checks the session reports against pairs recomputed from copies of the node logs."""
import collections, csv, datetime
from pathlib import Path

F = "%Y-%m-%d %H:%M:%S"
ins, outs = {}, {}
for name in ("node-a.log", "node-b.log"):
    for line in Path("/tests/logs", name).read_text().splitlines():
        d, t, node, user, action, sess = line.split()
        ts = datetime.datetime.strptime(f"{d} {t}", F)
        user, action, sess = user[5:], action[7:], sess[8:]
        if action == "login":
            ins[sess] = (ts, user)
        elif action == "logout":
            outs[sess] = ts
complete = sorted((ins[s][0], s, ins[s][1], outs[s]) for s in ins if s in outs)
want_sessions = [["session", "user", "start", "end", "duration_s"]] + [
    [s, u, a.strftime(F), b.strftime(F), str(int((b - a).total_seconds()))] for a, s, u, b in complete]
want_unmatched = sorted(s for s in ins if s not in outs)
per = collections.defaultdict(list)
for a, s, u, b in complete:
    per[u].append(int((b - a).total_seconds()))
want_totals = [["user", "sessions", "total_s", "max_s"]] + [
    [u, str(len(v)), str(sum(v)), str(max(v))] for u, v in sorted(per.items())]
assert len(complete) > 25 and want_unmatched and any(a.date() != b.date() for a, _, _, b in complete)

def rows(p):
    path = Path(p)
    assert path.is_file(), f"{p} is missing"
    return [r for r in csv.reader(path.read_text().splitlines()) if r]

got = rows("/app/out/sessions.csv")
assert got == want_sessions, f"sessions.csv differs: got {got[:4]}..., expected {want_sessions[:4]}..."
um = Path("/app/out/unmatched.txt")
assert um.is_file(), "/app/out/unmatched.txt is missing"
assert um.read_text().split() == want_unmatched, f"unmatched: expected {want_unmatched}"
got = rows("/app/out/user_totals.csv")
assert got == want_totals, f"user_totals.csv: got {got}, expected {want_totals}"
print("ok")
