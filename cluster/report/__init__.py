"""`selfharness report RUN_DIR`: a run directory -> report.md, report.html and PNG plots.

The package reads the typed records the loop writes and is tolerant of a run that stopped
early: a missing or unreadable file is listed as such, never a crash. Verifier tampering is read
from the traces (cluster/tampering.py): per round, per candidate, and listed episode by episode
when there is any. One job a module: load.py reads the run directory into a `Run`, plots.py
draws it, document.py says what the report says, render.py writes that as Markdown and HTML,
fmt.py formats the numbers the export and the review app share; `write_report` runs them.
"""

from __future__ import annotations

from pathlib import Path

from actors.run_dir import REPORT_HTML, REPORT_MD, REPORT_PLOTS, RunStore
from actors.stats import wilson_interval as wilson
from cluster.report.document import build_document
from cluster.report.fmt import fmt_split, pct, rate_diff, status
from cluster.report.load import Round, Run, load_run
from cluster.report.plots import PLOTS
from cluster.report.render import render_html, render_md

__all__ = ["PLOTS", "Round", "Run", "build_document", "fmt_split", "load_run", "pct", "rate_diff",
           "render_html", "render_md", "status", "wilson", "write_report"]


def write_report(run_dir: Path) -> tuple[Path, Path]:
    """Write RUN_DIR/report.md, RUN_DIR/report.html and the plots under RUN_DIR/report/."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: not a run directory")
    run, store = load_run(run_dir), RunStore(run_dir, create=False)
    plots = store.path(REPORT_PLOTS)
    plots.mkdir(exist_ok=True)
    images = []
    for name, caption, plot in PLOTS:
        path = plots / name
        if plot(run, path):
            images.append((path, caption))
        else:
            path.unlink(missing_ok=True)
    doc = build_document(run, images)
    return (store.write_text(REPORT_MD, render_md(doc, run_dir)),
            store.write_text(REPORT_HTML, render_html(doc)))
