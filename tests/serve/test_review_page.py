"""The review page in headless Chromium without Ray (uvicorn in a thread): text from a run is shown as
text, never run as markup, and the page asks nothing of any other host."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from harnesses.trace import Tampering, load_trace, save_trace
from serve.review_api import create_app
from serve.run_paths import RunsRoot
from tests.serve.review_fixture import make_waiting_run
from tests.serve.test_review_api import TOKEN, serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed (apt: chromium)")
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def test_run_text_is_shown_as_text_and_nothing_leaves_the_machine(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    run = tmp_path / "demo"
    run.mkdir()
    hs = make_waiting_run(run)
    path = run / "rounds" / "2" / "proposals.json"
    props = json.loads(path.read_text())
    props["proposals"][0]["audit"]["hypothesis"] = HOSTILE
    path.write_text(json.dumps(props))
    tpath = next(run.glob(f"traces/*/*/{hs['tampered']}.json"))
    trace = load_trace(tpath)
    trace.tampering = [Tampering(path="/logs/verifier/" + HOSTILE, change="planted", detail=HOSTILE)]
    save_trace(trace, tpath.parent)
    with serving(create_app(RunsRoot(tmp_path), TOKEN, open_reads=True)) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            elsewhere: list[str] = []
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                       else (elsewhere.append(route.request.url), route.abort()))
            page.goto(f"{base}/#/run/demo")
            expect(page.locator("#rounds-table tbody tr").nth(1)).to_contain_text("waiting for a verdict")
            expect(page.locator("#pending a.review-link")).to_have_text("review r2p1")
            page.goto(f"{base}/#/run/demo/proposal/r2p1")
            expect(page.locator("dd").filter(has_text="onerror")).to_have_text(HOSTILE)
            expect(page.locator("#proposal-tampering")).to_contain_text("/logs/verifier/" + HOSTILE)
            expect(page.locator("#ab-tampered")).to_contain_text("1 tampered of the candidate's episodes")
            page.goto(f"{base}/#/run/demo/round/2")
            expect(page.locator("#proposals-table")).to_contain_text("<script>window.pwned=2</script>")
            page.goto(f"{base}/#/run/demo/trace/{hs['failed']}")
            expect(page.locator("#verifier")).to_contain_text("AssertionError")
            assert page.locator("#tampering").count() == 0
            page.goto(f"{base}/#/run/demo/trace/{hs['tampered']}")
            expect(page.locator("#tampering-table tbody tr")).to_have_count(1)
            expect(page.locator("#tampering-table td").nth(0)).to_have_text("/logs/verifier/" + HOSTILE)
            expect(page.locator("#tampering-table td").nth(2)).to_have_text(HOSTILE)
            expect(page.locator("#cause")).to_have_text("verifier_tampering")
            expect(page.locator("#verifier-events")).to_contain_text("verifier tampering: the agent left changes")
            page.goto(f"{base}/#/run/demo")
            expect(page.locator("#rounds-table tbody tr").nth(1)).to_contain_text("1 tampered")
            assert page.evaluate("window.pwned") is None
            assert page.locator("img").count() == 0 and elsewhere == []
        finally:
            browser.close()
