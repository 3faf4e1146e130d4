"""A report document (the blocks document.py builds) as text: Markdown that links the PNGs, and
a self-contained HTML page (plots embedded as base64, inline CSS, no JS). export.py renders its
evidence and lineage documents with the same `render_md`.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path


def _md_cell(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def render_md(doc: list[tuple], base: Path) -> str:
    out = []
    for b in doc:
        kind = b[0]
        if kind == "h":
            out.append("#" * b[1] + " " + b[2])
        elif kind == "p":
            out.append(b[1])
        elif kind == "kv":
            out.append("\n".join(f"- **{k}**: {_md_cell(v)}" for k, v in b[1]))
        elif kind == "table":
            lines = ["| " + " | ".join(b[1]) + " |", "|" + "---|" * len(b[1])]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b[2]]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{b[2]}]({b[1].relative_to(base).as_posix()})")
        elif kind == "pre":
            out.append(_fence(b[1]))
        elif kind == "diff":
            out.append(f"{b[1]}:\n\n{_fence(b[2], 'diff')}")
    return "\n\n".join(out) + "\n"


CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;width:100%}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}
td{overflow-wrap:break-word}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dt{font-weight:600}dd{margin:0}figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:13px;
white-space:pre-wrap;overflow-wrap:break-word}.add{color:#22863a}.del{color:#b31d28}.hunk{color:#6f42c1}
.warn{color:#b31d28;font-weight:600}
"""


def _diff_html(text: str) -> str:
    cls = {"+": "add", "-": "del", "@": "hunk"}
    lines = []
    for line in text.splitlines():
        c = cls.get(line[:1]) if not line.startswith(("+++", "---")) else None
        lines.append(f'<span class="{c}">{html.escape(line)}</span>' if c else html.escape(line))
    return "<pre>" + "\n".join(lines) + "</pre>"


def render_html(doc: list[tuple]) -> str:
    e = html.escape
    title = next((b[2] for b in doc if b[0] == "h"), "report")
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{CSS}</style>"
           "</head><body>"]
    for b in doc:
        kind = b[0]
        if kind == "h":
            out.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
        elif kind == "p":
            out.append(f"<p>{e(b[1])}</p>")
        elif kind == "kv":
            items = "".join(f"<dt>{e(k)}</dt><dd{' class=warn' if v.startswith('NO') else ''}>{e(v)}</dd>"
                            for k, v in b[1])
            out.append(f"<dl>{items}</dl>")
        elif kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b[1])
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b[2])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "img":
            data = base64.b64encode(b[1].read_bytes()).decode()
            out.append(f"<figure><img alt='{e(b[2])}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{e(b[2])}</figcaption></figure>")
        elif kind == "pre":
            out.append(f"<pre>{e(b[1])}</pre>")
        elif kind == "diff":
            out.append(f"<details><summary>{e(b[1])}</summary>{_diff_html(b[2])}</details>")
    out.append("</body></html>")
    return "\n".join(out)
