"""Checks the two library reports against values recomputed in Python from a copy of the DB."""
import collections, csv, datetime, hashlib, sqlite3
from pathlib import Path

assert hashlib.sha256(Path("/app/data/library.db").read_bytes()).digest() == \
    hashlib.sha256(Path("/tests/library.db").read_bytes()).digest(), "the database was modified"
con = sqlite3.connect("file:/tests/library.db?mode=ro", uri=True)
members = dict(con.execute("SELECT id, name FROM members"))
books = dict(con.execute("SELECT id, title FROM books"))
authors = dict(con.execute("SELECT id, name FROM authors"))
by_book = collections.defaultdict(list)
for b, a in con.execute("SELECT book_id, author_id FROM book_authors"):
    by_book[b].append(a)
loans = con.execute("SELECT book_id, member_id, due_date, returned_on FROM loans").fetchall()

report_day = datetime.date(2024, 9, 30)
over = []
for b, m, due, ret in loans:
    d = datetime.date.fromisoformat(due)
    if ret is None and d < report_day:
        over.append((members[m], books[b], due, (report_day - d).days))
over.sort(key=lambda r: (-r[3], r[0], r[1]))
want_over = [["member", "title", "due_date", "days_overdue"]] + [[a, b, c, str(d)] for a, b, c, d in over]
count = collections.Counter(authors[a] for b, *_ in loans for a in by_book[b])
want_top = [["author", "loans"]] + [[a, str(n)] for a, n in sorted(count.items(), key=lambda kv: (-kv[1], kv[0]))[:5]]
assert len(over) > 15

def rows(p):
    path = Path(p)
    assert path.is_file(), f"{p} is missing"
    return [r for r in csv.reader(open(path, newline="", encoding="utf-8")) if r]

got = rows("/app/report/overdue.csv")
assert got == want_over, f"overdue.csv: got {got[:5]}..., expected {want_over[:5]}..."
got = rows("/app/report/top_authors.csv")
assert got == want_top, f"top_authors.csv: got {got}, expected {want_top}"
print("ok")
