"""A person reviews a live run in a real browser: headless Chromium (Debian's, driven by Playwright)
on the review app served by Ray Serve, while a short run with `approval: required` goes on.

They watch the rounds progress, open the waiting proposal, read its diff and A/B table, try to
approve without the token (refused, nothing written), approve with it, and see the run promote
the winner with their name on the decision. Each page is saved as a screenshot under the test's
output directory (or $SELFHARNESS_SCREENSHOTS) and the paths are printed.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import msgspec
import pytest

from actors.approvals import ApprovalConfig, ApprovalStore
from actors.model.config import SimModelConfig
from actors.records import Decision
from cluster.cli import main
from cluster.config import RunConfig
from cluster.loop import open_run, run_loop_bare
from tests.conftest import needs_bwrap
from tests.serve.test_review_api import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [pytest.mark.ray, needs_bwrap,
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="chromium is not installed (apt: chromium)")]
TOKEN = "browser-review-token-8c3f1a2b7d"
LONG = 240_000  # ms: a round on two shared cores


@pytest.fixture()
def served(tmp_path):
    """The review app on Ray Serve over tmp/runs, the token in a file of mode 600."""
    import ray
    from ray import serve

    from cluster.ray_init import init_ray
    from serve.review import build_app

    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    (tmp_path / "runs").mkdir()
    init_ray(os.environ.get("RAY_ADDRESS") or "local")  # its own cluster, whatever `ray start` left behind
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"runs": str(tmp_path / "runs"), "token_file": str(token_file)}), name="review",
              route_prefix="/")
    yield f"http://127.0.0.1:{port}/", tmp_path / "runs"
    serve.shutdown()
    ray.shutdown()


def start_run(run_dir: Path) -> tuple[threading.Thread, list]:
    config = RunConfig(limit=6, attempts=2, rounds=2, k=3, concurrency=4, progress=False,
                       model=SimModelConfig(profile="glm"),
                       approval=ApprovalConfig(mode="required", poll_s=0.5, wait_timeout_s=900))
    store = open_run(config, str(run_dir))
    errors: list = []

    def go():
        try:
            run_loop_bare(config, store)
        except BaseException as e:  # reported by the test
            errors.append(e)

    thread = threading.Thread(target=go, daemon=True, name="run")
    thread.start()
    return thread, errors


def test_review_a_live_run_in_chromium(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    base, runs = served
    run_dir = runs / "demo"
    shots = Path(os.environ.get("SELFHARNESS_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    thread, errors = start_run(run_dir)
    store = ApprovalStore(run_dir)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        problems: list[str] = []
        page.on("pageerror", lambda e: problems.append(str(e)))

        def shot(name: str) -> None:
            path = shots / f"{len(saved) + 1}-{name}.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)

        try:
            # the runs list, then the run: the round's stages with progress while it runs
            page.goto(base)  # one run under the root: the page opens it
            expect(page.locator("#runs-table, #rounds-table").first).to_be_visible(timeout=60_000)
            page.goto(base + "#/")
            expect(page.locator("#runs-table")).to_contain_text("demo")
            shot("runs")
            page.goto(base + "#/run/demo")
            expect(page.locator(".stage.current").first).to_be_visible(timeout=60_000)
            shot("run-in-progress")

            # a validated winner waits: the page says so and links its proposals
            link = page.locator("#pending a.review-link").first
            expect(link).to_be_visible(timeout=LONG)
            pending = store.pending()[0]
            expect(page.locator("[data-stage=approval]")).to_contain_text("current")
            shot("run-waiting")

            for i, pid in enumerate(pending.proposals):
                page.goto(base + f"#/run/demo/proposal/{pid}")
                expect(page.locator("h1")).to_have_text(f"Proposal {pid}")  # not the page before: it re-renders
                expect(page.locator("#diff")).to_contain_text(":")  # surface: change
                expect(page.locator("#ab-table")).to_contain_text("train")
                expect(page.locator("#ab-table")).to_contain_text("val")
                expect(page.locator("#ab-table")).to_contain_text("pp")
                expect(page.locator("#pairs-train tbody tr").first).to_be_visible()
                expect(page.locator("#approve")).to_be_visible()
                if i == 0:
                    shot(f"proposal-{pid}")
                    # without the token: refused, shown, nothing written
                    page.fill("#comment", "looks right, no token yet")
                    page.click("#approve")
                    expect(page.locator("#verdict-msg")).to_contain_text("refused (HTTP 401)")
                    assert not store.path.exists()
                    page.fill("#token", "not-the-token")
                    page.click("#approve")
                    expect(page.locator("#verdict-msg")).to_contain_text("refused (HTTP 403): wrong token")
                    assert not store.path.exists()
                    shot("approve-refused")
                    page.fill("#token", TOKEN)
                    page.fill("#reviewer", "ann")
                page.fill("#comment", f"read the diff and the A/B table of {pid}")
                page.click("#approve")
                expect(page.locator("#verdict-msg")).to_contain_text("recorded: approve by review:ann")
            shot("approved")

            # the run promotes the winner, with the reviewer's name on the decision
            page.goto(base + "#/run/demo")
            expect(page.locator("h1")).to_have_text("Run demo")
            row = page.locator("#rounds-table tbody tr").nth(pending.round - 1)
            expect(row).to_contain_text("review:ann (approved)", timeout=LONG)
            decision = msgspec.json.decode((run_dir / "rounds" / str(pending.round) / "decision.json").read_bytes(),
                                           type=Decision)
            assert decision.promoted_id == pending.candidate_id != pending.parent_id
            assert decision.decided_by == "review:ann" and decision.approval == "approved"
            assert [v.by for v in store.verdicts()] == ["review:ann"] * len(pending.proposals)
            shot("promoted")

            # later winners: rejected from the command line, so the run can finish
            deadline = time.monotonic() + LONG / 1000
            while thread.is_alive() and time.monotonic() < deadline:
                for p in store.pending():
                    for pid in p.proposals:
                        assert main(["reject", str(run_dir), pid, "--comment", "enough for one test"]) == 0
                thread.join(1)
            assert not thread.is_alive() and not errors, errors
            page.goto(base + "#/run/demo")
            expect(page.locator("#pass-chart")).to_be_visible()
            expect(page.locator("body")).to_contain_text("Sealed test")
            shot("run-finished")

            page.goto(base + f"#/run/demo/round/{pending.round}")
            expect(page.locator("h1")).to_have_text(f"Round {pending.round}")
            expect(page.locator("#clusters-table")).to_be_visible()
            expect(page.locator("#proposals-table")).to_contain_text("promoted")
            shot("round")
            page.locator("#clusters-table a").first.click()
            expect(page.locator("#turns .turn").first).to_be_visible()
            expect(page.locator("#verifier")).not_to_be_empty()
            shot("trace")
            assert problems == []
        finally:
            browser.close()
            for p in store.pending():  # a failed test must not leave the run waiting
                for pid in p.proposals:
                    store.record(pid, "reject", "test:teardown")
            thread.join(30)
    print("\nscreenshots:\n" + "\n".join(f"  {p}" for p in saved))
    assert len(saved) == 10 and all(p.stat().st_size > 10_000 for p in saved)
