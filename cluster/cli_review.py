"""The review subcommands of `selfharness`: review (serve the app), approve, reject, lineage, export.

Kept apart from cluster/cli.py so the main parser stays short; `add_commands` hangs them on it.
"""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import signal
import tempfile
import time
from pathlib import Path

from cluster.config import ConfigError

TOKEN_ENV = "SELFHARNESS_REVIEW_TOKEN"


def _run_dir(path: str) -> Path:
    from serve.run_paths import is_run

    p = Path(path)
    if not is_run(p):
        raise ConfigError(f"{path}: not a run directory (no state.json or config.yaml)")
    return p


def _verdict(args: argparse.Namespace, verdict: str) -> int:
    from actors.approvals import ApprovalError
    from serve.run_paths import BadId, NotFound
    from serve.verdicts import NotAwaiting, give_verdict

    run_dir = _run_dir(args.run_dir)
    try:
        v = give_verdict(run_dir, args.proposal, verdict, args.by or f"cli:{getpass.getuser()}", args.comment)
    except (BadId, NotFound, NotAwaiting, ApprovalError) as e:
        raise ConfigError(str(e)) from None
    word = "approved" if v.verdict == "approve" else "rejected"
    print(f"{word} {v.proposal_id} (by {v.by} at {v.at}); the run acts on it once every proposal of the winner "
          "has a verdict")
    return 0


def _approve(args: argparse.Namespace) -> int:
    return _verdict(args, "approve")


def _reject(args: argparse.Namespace) -> int:
    return _verdict(args, "reject")


def _lineage(args: argparse.Namespace) -> int:
    from cluster.export import lineage_text

    print(lineage_text(_run_dir(args.run_dir)), end="")
    return 0


def _export(args: argparse.Namespace) -> int:
    from cluster.export import export

    for path in export(_run_dir(args.run_dir), Path(args.out) if args.out else None):
        print(path)
    return 0


def _token_args(args: argparse.Namespace) -> dict:
    """token_env / token_file for the app: as given, else $SELFHARNESS_REVIEW_TOKEN, else a fresh
    token in a new file only this user can read (printed once, here)."""
    if args.token_file:
        return {"token_file": args.token_file}
    if args.token_env:
        return {"token_env": args.token_env}
    if os.environ.get(TOKEN_ENV):
        return {"token_env": TOKEN_ENV}
    fd, path = tempfile.mkstemp(prefix="selfharness-review-", suffix=".token")  # mode 0600
    token = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    print(f"token for approving (also in {path}, mode 600, removed when the app stops): {token}")
    return {"token_file": path, "made": True}


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def _review(args: argparse.Namespace) -> int:
    from serve.review import run

    if not Path(args.run_dir).is_dir():
        raise ConfigError(f"{args.run_dir}: no such directory")
    token = _token_args(args)
    made = token.pop("made", False)
    try:
        url = run({"runs": args.run_dir, "host": args.host, **token}, port=args.port)
        print(f"review app: {url}  (Ctrl-C stops)", flush=True)
        signal.signal(signal.SIGTERM, _interrupt)  # stopped by a service manager: the same as Ctrl-C
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        if made:  # first: Ray may end this process while Serve shuts down
            Path(token["token_file"]).unlink(missing_ok=True)
    from ray import serve

    serve.shutdown()
    return 0


def add_commands(sub) -> None:
    rv = sub.add_parser("review", help="serve the review app (web page and JSON API) for a run or a directory "
                                       "of runs")
    rv.add_argument("run_dir", help="a run directory, or a directory of run directories")
    rv.add_argument("--host", default="127.0.0.1",
                    help="reads are open on loopback only; elsewhere they need the token")
    rv.add_argument("--port", type=int, default=8100)
    rv.add_argument("--token-env", help="the variable that holds the token approving needs "
                                        f"(default: {TOKEN_ENV} when set)")
    rv.add_argument("--token-file", help="a file (mode 600) that holds the token")
    rv.set_defaults(func=_review)

    for name, func, word in (("approve", _approve, "promote"), ("reject", _reject, "keep the parent instead of")):
        p = sub.add_parser(name, help=f"{name} a proposal of a winner waiting for a verdict (the run will {word} it)")
        p.add_argument("run_dir")
        p.add_argument("proposal", help="r<round>p<n>, as the run names it")
        p.add_argument("--comment", default="", help="why (kept with the verdict, at most 2000 characters)")
        p.add_argument("--by", help="who decides (default: cli:<your user name>)")
        p.set_defaults(func=func)

    ln = sub.add_parser("lineage", help="the chain of harness versions with diffs and evidence")
    ln.add_argument("run_dir")
    ln.set_defaults(func=_lineage)

    ex = sub.add_parser("export", help="write final-harness.yaml and evidence.md (readable without the tool)")
    ex.add_argument("run_dir")
    ex.add_argument("--out", help="where (default: RUN_DIR/export)")
    ex.set_defaults(func=_export)
