"""The review app over HTTP (uvicorn in a thread, no Ray): what a reviewer reads, and that bad
requests (unknown runs, traversal ids, huge comments, wrong or missing tokens) get a clear 4xx
and change nothing on disk."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest

from serve.review_api import create_app
from serve.run_paths import RunsRoot
from tests.serve.review_fixture import make_waiting_run, snapshot

TOKEN = "review-token-5b1e0c7d9a2f4e68"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(app):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(10)


def call(base: str, path: str, body: bytes | dict | None = None, token: str | None = None,
         headers: dict | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(base + path, data=data, method="POST" if data is not None else "GET",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            raw, status, hdrs = r.read(), r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, dict(e.headers)
    try:
        return status, json.loads(raw), hdrs
    except ValueError:
        return status, {"text": raw.decode()}, hdrs


@pytest.fixture()
def site(tmp_path):
    root = tmp_path / "runs"
    run = root / "demo"
    run.mkdir(parents=True)
    hs = make_waiting_run(run)
    (tmp_path / "secret.txt").write_text("outside the root")
    with serving(create_app(RunsRoot(root), TOKEN, open_reads=True)) as base:
        yield base, run, hs


def test_a_reviewer_reads_the_run(site):
    base, run, hs = site
    status, runs, _ = call(base, "/api/runs")
    assert status == 200 and [r["id"] for r in runs] == ["demo"] and runs[0]["pending"] == 1
    status, d, _ = call(base, "/api/runs/demo")
    assert status == 200 and d["summary"]["phase"] == "approval"
    r1, r2 = d["rounds"]
    assert r1["finished"] and r1["promoted_id"] == hs["h1"].id and r1["train"]["episodes"] == 6
    assert r1["train"]["low"] < r1["train"]["rate"] < r1["train"]["high"]  # the Wilson band
    assert not r2["finished"] and r2["train"]["partial"]  # counted from the episodes so far
    assert [s["name"] for s in r2["stages"]][-1] == "approval" and r2["stages"][-1]["status"] == "current"
    assert d["pending"][0]["proposals"] == ["r2p1"] and d["pending"][0]["candidate_id"] == hs["winner"].id
    assert [e["id"] for e in d["lineage"]] == [hs["h0"].id, hs["h1"].id]

    status, rd, _ = call(base, "/api/runs/demo/rounds/1")
    assert status == 200 and rd["clusters"][0]["support"] == 2 and rd["clusters"][0]["examples"][0]["excerpt"]
    assert {p["id"]: p["status"] for p in rd["proposals"]} == {"r1p1": "accepted -> promoted", "r1p2": "rejected"}

    status, p, _ = call(base, "/api/runs/demo/proposals/r2p1")
    assert status == 200 and p["awaiting"] and p["audit"]["hypothesis"] == "Check the artifact first."
    assert p["diff"] == "middleware: + artifact_check {}" and "+- name: artifact_check" in p["yaml_diff"]
    assert p["ab"]["splits"]["val"]["delta"] == 1 and p["ab"]["splits"]["val"]["ci_high"] == 0.33
    gains = [x for x in p["pairs"]["train"] if x["parent"] is False and x["candidate"] is True]
    assert len(p["pairs"]["train"]) == 6 and len(gains) == 1 and gains[0]["candidate_trace"]

    status, t, _ = call(base, f"/api/runs/demo/traces/{hs['failed']}")
    assert status == 200 and t["split"] == "train" and not t["passed"]
    tr = t["trace"]
    assert tr["commands"][0]["command"] == "ls /app" and tr["events"][0]["name"] == "artifact_check"
    assert tr["turns"][1]["raw"] and "missing" in tr["verifier_output"]
    assert tr["tampering"] == [] and t["cause"] == "missing_artifact"


def test_tampering_is_shown_per_round_proposal_pair_and_trace(site):
    base, run, hs = site
    winner = hs["winner"].id
    _, d, _ = call(base, "/api/runs/demo")
    assert [r["tampered"] for r in d["rounds"]] == [0, 1]  # round 2: its candidate's validation
    _, rd, _ = call(base, "/api/runs/demo/rounds/2")
    assert rd["row"]["tampered"] == 1 and {p["id"]: p["tampered"] for p in rd["proposals"]} == {"r2p1": 1, "r2p2": 0}
    _, p, _ = call(base, "/api/runs/demo/proposals/r2p1")
    assert p["candidate_tampered"] == 1 and p["parent_tampered"] == 0
    assert [(e["episode_id"], e["harness_id"], e["split"]) for e in p["tampering"]] == [(hs["tampered"], winner, "train")]
    assert p["tampering"][0]["tampering"] == [{"path": "/logs/verifier/reward.txt", "change": "planted",
                                               "detail": "file of 2 bytes, mode 644"}]
    marked = [x for x in p["pairs"]["train"] if x["candidate_tampered"]]
    assert [x["candidate_trace"] for x in marked] == [hs["tampered"]] and marked[0]["candidate"] is False
    assert not any(x["parent_tampered"] for split in ("train", "val") for x in p["pairs"][split])
    _, other, _ = call(base, "/api/runs/demo/proposals/r1p1")
    assert other["tampering"] == [] and other["candidate_tampered"] == other["parent_tampered"] == 0
    status, t, _ = call(base, f"/api/runs/demo/traces/{hs['tampered']}")
    assert status == 200 and not t["passed"] and t["trace"]["reward"] == 1.0  # a planted reward is no pass
    assert t["cause"] == "verifier_tampering" and t["trace"]["tampering"][0]["change"] == "planted"
    assert [e["kind"] for e in t["trace"]["events"] if e["turn"] == -1] == ["note", "tampering"]


def test_the_page_works_offline(site):
    base = site[0]
    with urllib.request.urlopen(base + "/") as r:
        page, headers = r.read().decode(), dict(r.headers)
    assert "default-src 'self'" in headers["content-security-policy"]
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # no CDN: every asset is served from here
    for name in re.findall(r"/static/([\w.]+)", page):
        with urllib.request.urlopen(f"{base}/static/{name}") as r:
            text = r.read()
        assert b"http://" not in text.replace(b"http://www.w3.org/2000/svg", b"") and b"https://" not in text
        assert b"innerHTML" not in text and b"eval(" not in text  # run data is only ever text
    assert call(base, "/static/..%2Freview_api.py")[0] == 404
    assert call(base, "/static/review_api.py")[0] == 404


def test_an_approval_with_the_token_is_recorded(site):
    base, run, _ = site
    status, v, _ = call(base, "/api/runs/demo/proposals/r2p1/verdict",
                        {"verdict": "approve", "comment": "checked the diff", "name": "ann"}, token=TOKEN)
    assert status == 201 and v["by"] == "review:ann" and v["verdict"] == "approve"
    lines = (run / "approvals.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["comment"] == "checked the diff"
    assert call(base, "/api/runs/demo")[1]["pending"] == []  # nothing waits any more
    # the winner is decided: another verdict would change nothing, so it is refused
    status, err, _ = call(base, "/api/runs/demo/proposals/r2p1/verdict", {"verdict": "reject"}, token=TOKEN)
    assert status == 409 and "nothing waits" in err["error"]


BAD = [  # (path, body, token, status, words in the error)
    ("/api/runs/nope", None, None, 404, "no such run"),
    ("/api/runs/nope/proposals/r2p1/verdict", {"verdict": "approve"}, TOKEN, 404, "no such run"),
    ("/api/runs/%2e%2e", None, None, 400, "run id"),
    ("/api/runs/.hidden", None, None, 400, "run id"),
    ("/api/runs/..%2Fsecret.txt", None, None, 404, "Not Found"),
    ("/api/runs/demo/traces/..%2F..%2F..%2Fsecret.txt", None, None, 404, "Not Found"),
    ("/api/runs/demo/traces/%2e%2e", None, None, 400, "trace id"),
    ("/api/runs/demo/traces/alpha-task__000000000000__a0__s0", None, None, 404, "no such episode"),
    ("/api/runs/demo/traces/..__521a98fac050__a0__s0", None, None, 400, "trace id"),
    ("/api/runs/demo/rounds/9", None, None, 404, "round 9"),
    ("/api/runs/demo/rounds/..", None, None, 400, "round"),
    ("/api/runs/demo/proposals/r2p9", None, None, 404, "not in round 2"),
    ("/api/runs/demo/proposals/x..y", None, None, 400, "proposal id"),
    ("/api/runs/demo/proposals/r2p9/verdict", {"verdict": "approve"}, TOKEN, 404, "no such proposal"),
    ("/api/runs/demo/proposals/..%2F..%2Fx/verdict", {"verdict": "approve"}, TOKEN, 404, "Not Found"),
    ("/api/runs/demo/proposals/r2..1/verdict", {"verdict": "approve"}, TOKEN, 400, "proposal id"),
    ("/api/runs/demo/proposals/r1p2/verdict", {"verdict": "approve"}, TOKEN, 409, "nothing waits"),
    ("/api/runs/demo/proposals/r2p1/verdict", {"verdict": "approve"}, None, 401, "token is needed"),
    ("/api/runs/demo/proposals/r2p1/verdict", {"verdict": "approve"}, "wrong-token", 403, "wrong token"),
    ("/api/runs/demo/proposals/r2p1/verdict", {"verdict": "approve"}, TOKEN[:-1], 403, "wrong token"),
    ("/api/runs/demo/proposals/r2p1/verdict", {"verdict": "maybe"}, TOKEN, 400, "verdict"),
    ("/api/runs/demo/proposals/r2p1/verdict", {"verdict": "approve", "admin": True}, TOKEN, 400, "admin"),
    ("/api/runs/demo/proposals/r2p1/verdict", b"{not json", TOKEN, 400, "request body"),
    ("/api/runs/demo/proposals/r2p1/verdict", {"verdict": "approve", "name": "<b>x</b>"}, TOKEN, 400, "name"),
    ("/api/runs/demo/proposals/r2p1/verdict", {"verdict": "approve", "comment": "x" * 2001}, TOKEN, 413, "2000"),
    ("/api/runs/demo/proposals/r2p1/verdict", {"verdict": "approve", "comment": "x" * 50_000}, TOKEN, 413,
     "request body"),
    ("/api/nothing", None, None, 404, "Not Found"),
]


def test_bad_requests_get_clear_answers_and_change_nothing(site):
    base, run, _ = site
    before = snapshot(run.parent.parent)
    for path, body, token, status, words in BAD:
        got, answer, _ = call(base, path, body, token)
        assert (got, words in answer.get("error", "")) == (status, True), (path, got, answer)
    assert snapshot(run.parent.parent) == before
    assert not (run / "approvals.jsonl").exists()


def raw_post(base: str, head: str, chunks) -> str:
    """Send a request by hand, keep sending until the server stops listening, return its answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as s:
        s.sendall(head.encode())
        try:
            for chunk in chunks:
                s.sendall(chunk)
        except OSError:
            pass  # the server answered and closed early
        return s.recv(4096).decode()


def test_a_huge_body_is_not_read(site):
    """A megabyte comment, declared or chunked (no length to trust): 413 without reading it all."""
    base, run, _ = site
    head = (f"POST /api/runs/demo/proposals/r2p1/verdict HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {TOKEN}\r\n")
    body = json.dumps({"verdict": "approve", "comment": "x" * 10**6}).encode()
    answer = raw_post(base, head + f"Content-Length: {len(body)}\r\n\r\n", [body[i:i + 65536]
                                                                            for i in range(0, len(body), 65536)])
    assert answer.startswith("HTTP/1.1 413")
    chunk = b"x" * 8192
    answer = raw_post(base, head + "Transfer-Encoding: chunked\r\n\r\n",
                      [b"%x\r\n" % len(chunk) + chunk + b"\r\n"] * 128 + [b"0\r\n\r\n"])
    assert answer.startswith("HTTP/1.1 413") and "more than 16384 bytes" in answer
    assert not (run / "approvals.jsonl").exists()


def test_a_run_linked_from_outside_is_not_served(tmp_path):
    root, outside = tmp_path / "runs", tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    make_waiting_run(outside)
    os.symlink(outside, root / "linked")
    with serving(create_app(RunsRoot(root), TOKEN, open_reads=True)) as base:
        assert call(base, "/api/runs")[1] == []
        assert call(base, "/api/runs/linked")[0] == 404
        assert call(base, "/api/runs/linked/proposals/r2p1/verdict", {"verdict": "approve"}, TOKEN)[0] == 404
    assert not (outside / "approvals.jsonl").exists()


def test_off_loopback_reads_need_the_token_and_without_one_nothing_is_written(tmp_path):
    run = tmp_path / "demo"
    run.mkdir()
    make_waiting_run(run)
    with serving(create_app(RunsRoot(tmp_path), TOKEN, open_reads=False)) as base:
        assert call(base, "/api/runs")[0] == 401 and call(base, "/api/runs/demo", token="nope")[0] == 403
        assert call(base, "/api/runs", token=TOKEN)[0] == 200
    with serving(create_app(RunsRoot(run), None, open_reads=True)) as base:  # no token configured
        status, err, _ = call(base, "/api/runs/demo/proposals/r2p1/verdict", {"verdict": "approve"}, "anything")
        assert status == 403 and "without a token" in err["error"]
    assert not (run / "approvals.jsonl").exists()


def test_open_reads_answer_loopback_names_only(site):
    """A page on another site that rebinds its name to 127.0.0.1 cannot read the runs."""
    base = site[0]
    port = base.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        assert call(base, "/api/runs", headers={"Host": host})[0] == 200, host
    status, err, _ = call(base, "/api/runs", headers={"Host": f"evil.example:{port}"})
    assert status == 401 and "token is needed" in err["error"]
    assert call(base, "/api/runs", token=TOKEN, headers={"Host": "evil.example"})[0] == 200


def test_single_run_mode_serves_only_that_run(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        make_waiting_run(tmp_path / name)
    with serving(create_app(RunsRoot.for_path(tmp_path / "a"), TOKEN, open_reads=True)) as base:
        assert [r["id"] for r in call(base, "/api/runs")[1]] == ["a"]
        assert call(base, "/api/config")[1]["single_run"] == "a"
        assert call(base, "/api/runs/b")[0] == 404


def test_read_only_run_dir_ids_never_reach_the_filesystem(tmp_path, monkeypatch):
    """A refused id is refused before any path is built from it."""
    from serve import run_paths

    root = RunsRoot(tmp_path)
    seen = []
    monkeypatch.setattr(run_paths, "inside", lambda r, p: seen.append(p) or p)
    for bad in ("..", "../x", "a/b", "", ".", "x" * 200, "a\x00b"):
        with pytest.raises(run_paths.BadId):
            root.run_dir(bad)
    assert seen == []


def test_live_progress_falls_back_to_the_run_directory_without_a_controller(site):
    base, run, hs = site
    status, live, _ = call(base, "/api/runs/demo/live")
    assert status == 200 and not live["alive"] and live["stage"] == "approval"
    assert live["episodes_recorded"] == len((run / "episodes.jsonl").read_text().splitlines())
    status, _, _ = call(base, "/api/runs/nope/live")
    assert status == 404
