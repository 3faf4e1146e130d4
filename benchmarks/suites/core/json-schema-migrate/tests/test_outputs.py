"""Checks the migrated records and the index against hand-written expectations."""
import json
from pathlib import Path

def v2(i, first, last, email, created, balance, tags, street, city, zipc):
    return {"schema_version": 2, "id": i, "name": {"first": first, "last": last}, "email": email,
            "created_at": created, "balance": balance, "tags": tags,
            "address": {"street": street, "city": city, "zip": zipc}}

expected = {
    "C-0003.json": v2(3, "Ada", "Lovelace", "ada@example.com", "2021-03-15", 1234.56, ["beta", "vip"], "12 Main St", "Springfield", "12345"),
    "C-0010.json": v2(10, "Grace", "Brewster Hopper", "grace.hopper@navy.mil", "2019-12-09", 0, [], "1 Navy Way", "Arlington", "22202"),
    "C-0017.json": v2(17, "Alan", "Turing", "alan@example.org", "2020-06-23", 0.99, ["beta"], "Bletchley Park", "Milton Keynes", "MK3 6EB"),
    "C-0024.json": v2(24, "Hedy", "Lamarr", "hedy@example.com", "2022-11-09", 5000, ["beta", "inventor", "vip"], "45 Sunset Blvd", "Los Angeles", "90028"),
    "C-0031.json": v2(31, "Katherine", "Johnson", "kj@nasa.example", "2018-08-26", 25, ["staff"], "NASA Langley", "Hampton", "23681"),
    "C-0038.json": v2(38, "Linus", "", "linus@example.fi", "2021-12-28", -19.99, [], "Kumpula 5", "Helsinki", "00560"),
    "C-0045.json": v2(45, "Margaret", "Hamilton", "mh@apollo.example", "2023-08-17", 314.15, ["apollo", "vip"], "10 Lunar Rd", "Boston", "02108"),
    "C-0052.json": v2(52, "Radia", "Perlman", "radia@example.net", "2020-12-18", 0.07, ["beta", "staff"], "7 Spanning Tree Ln", "Redmond", "98052"),
}
already = {name: json.loads((Path("/tests/v1") / name).read_text()) for name in ("C-0099.json", "C-0100.json")}

def same(a, b, where):
    if isinstance(b, bool) or not isinstance(b, (int, float)):
        assert a == b, f"{where}: got {a!r}, expected {b!r}"
    else:
        assert isinstance(a, (int, float)) and not isinstance(a, bool) and abs(a - b) < 1e-9, f"{where}: got {a!r}, expected {b!r}"

out = Path("/app/v2")
assert out.is_dir(), "/app/v2 is missing"
for name, want in {**expected, **already}.items():
    p = out / name
    assert p.is_file(), f"/app/v2/{name} is missing"
    got = json.loads(p.read_text())
    assert set(got) == set(want), f"{name}: keys {sorted(got)} != {sorted(want)}"
    for k in want:
        if isinstance(want[k], dict):
            assert isinstance(got[k], dict) and set(got[k]) == set(want[k]), f"{name}.{k}: {got[k]!r}"
            for kk in want[k]:
                same(got[k][kk], want[k][kk], f"{name}.{k}.{kk}")
        else:
            same(got[k], want[k], f"{name}.{k}")
idx = out / "index.json"
assert idx.is_file(), "/app/v2/index.json is missing"
want_idx = sorted([{"id": e["id"], "file": n, "migrated": True} for n, e in expected.items()]
                  + [{"id": e["id"], "file": n, "migrated": False} for n, e in already.items()], key=lambda r: r["id"])
assert json.loads(idx.read_text()) == want_idx, f"index.json: got {idx.read_text()[:400]}"
print("ok")
