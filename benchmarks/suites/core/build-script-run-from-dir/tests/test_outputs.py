"""Checks the generated pages (title, nav, paragraphs, word count) and the MANIFEST."""
import hashlib
from pathlib import Path

public = Path("/app/public")
contact = Path("/app/content/contact.md")
assert contact.is_file(), "/app/content/contact.md is missing"
assert contact.read_text().splitlines() == ["# Contact", "", "Ask for the harbour master at the office by the crane."]
assert not Path("/app/content/draft-ideas.md").exists(), "the draft was not deleted"

names = ["boats", "contact", "harbour", "index"]
assert public.is_dir(), "/app/public is missing"
html = sorted(p.name for p in public.iterdir() if p.name != "MANIFEST")
assert html == [f"{n}.html" for n in names], f"/app/public holds {html}"

pages = {}
for n in names:
    lines = Path(f"/app/content/{n}.md").read_text().splitlines()
    title = lines[0][2:]
    paragraphs, cur = [], []
    for line in lines[1:] + [""]:
        if line.strip():
            cur.append(line)
        elif cur:
            paragraphs.append(" ".join(cur))
            cur = []
    pages[n] = (title, paragraphs, len(" ".join(lines[1:]).split()))
nav = " ".join(f'<a href="{n}.html">{pages[n][0]}</a>' for n in names)

for n in names:
    title, paragraphs, words = pages[n]
    text = (public / f"{n}.html").read_text()
    assert f"<title>{title} - Harbor Notes</title>" in text, f"{n}.html: wrong <title>"
    assert f"<nav>{nav}</nav>" in text, f"{n}.html: wrong navigation"
    assert f"<h1>{title}</h1>" in text
    for p in paragraphs:
        assert f"<p>{p}</p>" in text, f"{n}.html lacks paragraph {p!r}"
    assert text.count("<p>") == len(paragraphs)
    assert f"<footer>{words} words</footer>" in text, f"{n}.html: wrong word count"
    assert "@" not in text, f"{n}.html has unreplaced placeholders"

manifest = public / "MANIFEST"
assert manifest.is_file(), "/app/public/MANIFEST is missing"
expected = [f"{hashlib.sha256((public / f'{n}.html').read_bytes()).hexdigest()}  {n}.html" for n in names]
assert manifest.read_text().splitlines() == expected, manifest.read_text()
print("ok")
