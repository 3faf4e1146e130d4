"""Checks slugify against the rules and the generated /app/slugs.tsv."""
import importlib.util
import re
import sys
import unicodedata
from pathlib import Path

sys.path.insert(0, "/app")
spec = importlib.util.spec_from_file_location("textutil", "/app/textutil.py")
textutil = importlib.util.module_from_spec(spec)
spec.loader.exec_module(textutil)


def reference(text, max_length=40):
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    text = text[:max_length].rstrip("-")
    return text or "n-a"


fixed = {
    ("Hello, World!", 40): "hello-world",
    ("!!!", 40): "n-a",
    ("abc def", 4): "abc",
    ("Déjà Vu", 40): "deja-vu",
    ("  spaced   out  ", 40): "spaced-out",
    ("a_b__c", 40): "a-b-c",
    ("", 40): "n-a",
    ("ÆØ", 40): "n-a",
    ("Über 9000 ", 40): "uber-9000",
    ("one-two-three", 8): "one-two",
    ("x" * 50, 40): "x" * 40,
}
for (text, n), want in fixed.items():
    got = textutil.slugify(text, max_length=n)
    assert got == want, f"slugify({text!r}, max_length={n}) = {got!r}, expected {want!r}"
    assert reference(text, n) == want
assert textutil.slugify("Hello, World!") == "hello-world"

titles = [line.rstrip("\n") for line in Path("/app/titles.txt").read_text(encoding="utf-8").splitlines() if line.strip()]
expected = [f"{reference(t)}\t{t}" for t in titles]
path = Path("/app/slugs.tsv")
assert path.is_file(), "/app/slugs.tsv is missing"
lines = path.read_text(encoding="utf-8").splitlines()
assert lines == expected, f"got {lines}, expected {expected}"
print("ok")
