"""Checks /app/clean/contacts.csv against the hand-repaired expected rows."""
import csv, io
from pathlib import Path

expected = [
    ["id", "name", "city", "balance"],
    ["7", "James Bond", "London", "1000000.01"],
    ["101", "Ana Lima", "Lisboa", "1234.50"],
    ["102", "Berg; Lars", "Bergen", "-12.50"],
    ["103", "Chen Mei", "Taipei", "0.00"],
    ["104", "O'Brien, Pat", "Dublin", "0.00"],
    ["105", 'Maria "Mia" Rossi', "Roma", "12000.00"],
    ["106", "Kofi Mensah", "Accra", "7.05"],
    ["108", "Zoë Martin", "Paris", "3.14"],
    ["109", "Ivan Petrov", "Sankt-Peterburg", "42.00"],
    ["110", "Ali; Veli", "Ankara, TR", "-0.99"],
]
raw = Path("/app/raw/contacts.csv")
assert raw.is_file() and raw.read_bytes() == Path("/tests/raw_contacts.csv").read_bytes(), "the raw file was changed"
path = Path("/app/clean/contacts.csv")
assert path.is_file(), "/app/clean/contacts.csv is missing"
data = path.read_bytes()
assert not data.startswith(b"\xef\xbb\xbf"), "the output still has a byte order mark"
assert b"\r" not in data, "the output still has CR characters"
text = data.decode("utf-8")
assert text.splitlines()[0] == "id,name,city,balance", f"header line {text.splitlines()[0]!r}"
got = [r for r in csv.reader(io.StringIO(text)) if r]
assert got == expected, f"got {got}, expected {expected}"
print("ok")
