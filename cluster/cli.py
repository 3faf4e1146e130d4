"""The `selfharness` command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import msgspec

from actors.model.config import OpenAIModelConfig, SimModelConfig, model_label
from actors.sandbox.config import LocalSandboxConfig
from actors.run_dir import RunStore
from cluster.config import REPO_ROOT, ConfigError, RolloutConfig, load_config


def _rollout(args: argparse.Namespace) -> int:
    from actors.rollout import format_table
    from actors.run_dir import SUMMARY
    from cluster.compose import run_rollout
    from cluster.config import resolve_path, save_run_config
    from harnesses.spec import load_harness

    if args.config:
        config = load_config(args.config, RolloutConfig)
    else:
        model = _model_from_flags(args)
        concurrency = args.concurrency or (model.replicas if args.model == "llamacpp" else 4)
        config = RolloutConfig(
            suite=args.suite, split=args.split, tasks=[t for t in (args.tasks or "").split(",") if t],
            harness=args.harness, agent=args.agent,
            model=model, sandbox=LocalSandboxConfig(),
            attempts=args.attempts, seed=args.seed, concurrency=concurrency,
            workers=min(args.workers, concurrency), max_infra_retries=args.max_infra_retries,
            run_dir=args.run_dir)
    store = RunStore(config.run_dir) if config.run_dir else RunStore.new(REPO_ROOT / "runs", f"rollout-{config.split}")
    save_run_config(store, config)
    if args.json:
        with json_stdout() as out:
            traces, summary = run_rollout(config, store, progress=args.progress)
            store.write(SUMMARY, summary)
            doc = msgspec.to_builtins(summary)
            doc["run_dir"] = str(store.root)
            out.write(json.dumps(doc, indent=2) + "\n")
        return 0
    traces, summary = run_rollout(config, store, progress=sys.stderr.isatty() or args.progress)
    store.write(SUMMARY, summary)
    who = config.agent if config.agent != "model" else \
        f"{load_harness(resolve_path(config.harness)).name} + {model_label(config.model)}"
    print(format_table(summary, f"{who} on {config.suite}/{config.split}, {config.attempts} attempt(s)"))
    print(f"traces: {store.root / 'traces'}")
    return 0


@contextmanager
def json_stdout():
    """For `--json`: the real stdout carries only the JSON; everything else written to file descriptor 1
    while it runs (Ray's raylet and worker logs, libraries' prints, subprocesses) goes to stderr."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    out = os.fdopen(os.dup(saved), "w")
    try:
        yield out
    finally:
        out.flush()
        if "ray" in sys.modules and sys.modules["ray"].is_initialized():
            sys.modules["ray"].shutdown()  # Ray writes its last words (a state dump) to fd 1 as it stops
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        out.close()


def _status(args: argparse.Namespace) -> int:
    from cluster.controller import format_status, run_status

    if not RunStore.is_run(Path(args.run_dir)):
        raise ConfigError(f"{args.run_dir}: not a run directory (no state.json or config.yaml)")
    if args.json:
        with json_stdout() as out:
            out.write(json.dumps(msgspec.to_builtins(run_status(args.run_dir)), indent=2) + "\n")
        return 0
    print(format_status(run_status(args.run_dir)))
    return 0


def _model_from_flags(args: argparse.Namespace):
    if args.model == "openai":
        if not args.base_url or not args.served_model:
            raise ConfigError("--model openai needs --base-url and --served-model")
        limits = {k: v for k, v in (("timeout_s", args.model_timeout), ("max_tokens", args.max_tokens),
                                    ("concurrency", args.model_concurrency)) if v is not None}
        return OpenAIModelConfig(base_url=args.base_url, model=args.served_model, api_key_env=args.api_key_env,
                                 **limits)
    if args.model == "llamacpp":
        if not args.gguf:
            raise ConfigError("--model llamacpp needs --gguf: a .gguf file or a packaged model "
                              "(qwen2.5-coder-1.5b, qwen2.5-coder-0.5b, smollm2-135m)")
        from actors.model.config import LlamaCppModelConfig

        limits = {k: v for k, v in (("max_tokens", args.max_tokens), ("replicas", args.replicas),
                                    ("n_threads", args.n_threads), ("n_ctx", args.n_ctx),
                                    ("cpus", args.replica_cpus)) if v is not None}
        return LlamaCppModelConfig(gguf=args.gguf, **limits)
    return SimModelConfig(profile=args.profile)


def _serve(args: argparse.Namespace) -> int:
    import time

    from serve.openai import ServeConfig, parse_config, run

    config = parse_config(load_config(args.config, ServeConfig)) if args.config else \
        ServeConfig(model=SimModelConfig(profile=args.profile), suite=args.suite, api_key_env=args.api_key_env)
    url = run(config, host=args.host, port=args.port)
    print(f"serving {url} (/models, /chat/completions); Ctrl-C stops", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        from ray import serve

        serve.shutdown()
    return 0


def _run(args: argparse.Namespace) -> int:
    from cluster.config import RunConfig
    from cluster.controller import run_loop
    from cluster.loop import open_run

    config = load_config(args.config, RunConfig) if args.config else RunConfig()
    overrides = {k: v for k, v in (("rounds", args.rounds), ("k", args.k), ("seed", args.seed)) if v is not None}
    if args.profile:
        overrides["model"] = SimModelConfig(profile=args.profile)
    if overrides:
        config = msgspec.structs.replace(config, **overrides)
    store = open_run(config, args.run_dir)
    print(f"run directory: {store.root}")
    report = run_loop(config, store)
    _print_final(report, store.root, args.report)
    return 0


def _resume(args: argparse.Namespace) -> int:
    from cluster.config import load_run_config
    from cluster.controller import run_loop
    from cluster.loop import open_run

    config = load_run_config(Path(args.run_dir))
    store = open_run(config, args.run_dir)
    print(f"resuming {store.root}")
    report = run_loop(config, store)
    _print_final(report, store.root, args.report)
    return 0


def _print_final(report, root: Path, write: bool = False) -> None:
    print(f"sealed test: initial {report.initial_id} {report.initial.pass_rate:.1%} -> final {report.final_id} "
          f"{report.final.pass_rate:.1%} (paired delta {report.paired.delta:+d}, "
          f"95% CI [{report.paired.ci_low:+.2f}, {report.paired.ci_high:+.2f}], p={report.paired.p_value:.3f})")
    if write:
        from cluster.report import write_report

        md, html = write_report(root)
        print(f"report: {md}\n        {html}")
    else:
        print(f"report: selfharness report {root}")


def _tasks_check(args: argparse.Namespace) -> int:
    from benchmarks.check import check_suite

    backend = None
    if args.sandbox == "docker":
        from actors.sandbox.config import DockerSandboxConfig
        from actors.sandbox.factory import build_backend
        from harnesses.sandbox import SandboxError

        bases = dict(b.split("=", 1) for b in args.base_image or [] if "=" in b)
        try:
            backend = build_backend(DockerSandboxConfig(host=args.docker_host, images=args.images, base_images=bases))
        except SandboxError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    report = check_suite(Path(args.dir), concurrency=args.concurrency, progress=not args.json, backend=backend)
    if args.json:
        print(json.dumps(msgspec.to_builtins(report), indent=2))
    else:
        print(report.format())
    return 0 if report.ok else 1


def _tasks_calibrate(args: argparse.Namespace) -> int:
    from cluster.calibrate import FREE, CalibrateConfig, calibrate, format_calibration
    from cluster.config import load_run_config, save_run_config

    config = load_config(args.config, CalibrateConfig) if args.config else CalibrateConfig()
    overrides = {k: v for k, v in (("out", args.out), ("run_dir", args.run_dir)) if v is not None}
    config = msgspec.structs.replace(config, **overrides) if overrides else config
    store = RunStore(config.run_dir) if config.run_dir else RunStore.new(REPO_ROOT / "runs", "calibrate")
    save_run_config(store, config)
    kept = load_run_config(store.root, CalibrateConfig)
    changed = [f for f in config.__struct_fields__ if f not in FREE and getattr(kept, f) != getattr(config, f)]
    if changed:  # its episodes were run under the first config: mixing them with another's would lie
        raise ConfigError(f"{store.root} was calibrated with another {', '.join(changed)} (its config.yaml); "
                          "use a new --run-dir")
    print(f"run directory: {store.root}")
    report = calibrate(config, store)
    print(format_calibration(report))
    if config.out:
        print(f"subset suite: {Path(config.out) / 'suite.yaml'}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from cluster.report import write_report

    for path in write_report(Path(args.run_dir)):
        print(path)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="selfharness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    r = sub.add_parser("rollout", help="run a harness (or the oracle/noop agent) on a split of a suite")
    r.add_argument("--config", help="a YAML RolloutConfig (flags are ignored when given)")
    r.add_argument("--suite", default="core")
    r.add_argument("--split", default="train")
    r.add_argument("--harness", default="harnesses/minimal.yaml")
    r.add_argument("--model", default="sim", choices=["sim", "openai", "llamacpp"],
                   help="model backend: sim (the simulated model), openai (any OpenAI-compatible endpoint) or "
                        "llamacpp (a GGUF model on this cluster's CPUs)")
    r.add_argument("--gguf", help="llamacpp: a .gguf file or a packaged model (qwen2.5-coder-1.5b, ...)")
    r.add_argument("--replicas", type=int, help="llamacpp: model replicas (default 1)")
    r.add_argument("--n-threads", type=int, help="llamacpp: CPU threads per replica (default 2)")
    r.add_argument("--n-ctx", type=int, help="llamacpp: context window in tokens (default 16384)")
    r.add_argument("--replica-cpus", type=float, help="llamacpp: Ray CPUs a replica reserves (default its threads; "
                   "less leaves room for sandboxes on a small machine)")
    r.add_argument("--profile", default="minimax", help="sim quirk profile")
    r.add_argument("--base-url", help="openai: the endpoint, e.g. http://127.0.0.1:8000/v1")
    r.add_argument("--served-model", help="openai: the model name the endpoint serves")
    r.add_argument("--api-key-env", default="OPENAI_API_KEY", help="openai: the variable that holds the key")
    r.add_argument("--model-timeout", type=float, help="seconds per model request (openai default 120; a CPU server "
                   "re-reading a long conversation needs more)")
    r.add_argument("--max-tokens", type=int, help="per reply (default: the endpoint's)")
    r.add_argument("--model-concurrency", type=int, help="requests in flight to the model (openai default 16; a "
                   "one-slot CPU server wants 1, and --concurrency no higher than its slots)")
    r.add_argument("--tasks", help="only these tasks of the split, comma-separated")
    r.add_argument("--agent", default="model", choices=["model", "oracle", "noop"])
    r.add_argument("--attempts", type=int, default=2)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--concurrency", type=int, help="episodes at once (default 4; llamacpp: its replicas, one "
                   "conversation each, so each keeps its prefix cache)")
    r.add_argument("--workers", type=int, default=2, help="worker actors the concurrency is cut into, spread over nodes")
    r.add_argument("--max-infra-retries", type=int, default=2,
                   help="reruns of an episode after a lost worker, sandbox or model before it is an infra error")
    r.add_argument("--run-dir")
    r.add_argument("--json", action="store_true", help="print a JSON summary")
    r.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    r.set_defaults(func=_rollout)

    st = sub.add_parser("status", help="where a run is: live from its controller, else from its run directory")
    st.add_argument("run_dir")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_status)

    rp = sub.add_parser("report", help="write report.md and report.html (with plots) for a run directory")
    rp.add_argument("run_dir")
    rp.set_defaults(func=_report)

    run = sub.add_parser("run", help="a Self-Harness run: rounds of mine, propose, validate, promote")
    run.add_argument("--config", help="a YAML RunConfig (default: the built-in defaults)")
    run.add_argument("--run-dir", help="where the run is kept (default: runs/<name>-<time>)")
    run.add_argument("--profile", help="override the sim profile")
    run.add_argument("--rounds", type=int)
    run.add_argument("--k", type=int)
    run.add_argument("--seed", type=int)
    run.add_argument("--report", action="store_true", help="write report.md and report.html at the end")
    run.set_defaults(func=_run)

    res = sub.add_parser("resume", help="continue a run where it stopped (finished episodes are not redone)")
    res.add_argument("run_dir")
    res.add_argument("--report", action="store_true", help="write report.md and report.html at the end")
    res.set_defaults(func=_resume)

    sv = sub.add_parser("serve", help="an OpenAI-compatible endpoint on Ray Serve (the sim by default)")
    sv.add_argument("--config", help="a YAML ServeConfig (model, suite, served_model_name, replicas, api_key_env)")
    sv.add_argument("--profile", default="minimax", help="sim quirk profile (without --config)")
    sv.add_argument("--suite", default="core", help="the tasks the sim plays (without --config)")
    sv.add_argument("--api-key-env", help="require this variable's value as the bearer token (without --config)")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=8000)
    sv.set_defaults(func=_serve)

    from cluster.cli_review import add_commands

    add_commands(sub)  # review, approve, reject, lineage, export

    t = sub.add_parser("tasks", help="task suites")
    tsub = t.add_subparsers(dest="tasks_command", required=True)
    c = tsub.add_parser("check", help="every task loads, its oracle passes, doing nothing fails")
    c.add_argument("dir")
    c.add_argument("--concurrency", type=int, default=4)
    c.add_argument("--json", action="store_true")
    c.add_argument("--sandbox", choices=["local", "docker"], default="local",
                   help="docker: each task in its own image, built from its Dockerfile (or pulled, --images pull); "
                        "tells a task that needs the internet (OFFLINE) from a broken one")
    c.add_argument("--docker-host", help="the Docker daemon (default: $DOCKER_HOST, else the default socket)")
    c.add_argument("--images", choices=["build", "pull"], default="build")
    c.add_argument("--base-image", action="append", metavar="FROM=LOCAL",
                   help="build with LOCAL wherever a Dockerfile says FROM (or COPY --from) FROM; repeatable")
    c.set_defaults(func=_tasks_check)
    cal = tsub.add_parser("calibrate", help="which tasks a model solves under some harness; writes the subset suite "
                                            "a run on it can afford (tasks_from, max_turns)")
    cal.add_argument("--config", help="a YAML CalibrateConfig (default: the sim on core)")
    cal.add_argument("--out", help="the subset suite's folder (overrides the config's)")
    cal.add_argument("--run-dir", help="where episodes are kept; again with the same one resumes")
    cal.set_defaults(func=_tasks_calibrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, ValueError, KeyError) as e:
        print(f"selfharness: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
