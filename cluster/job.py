"""The entrypoint of a Ray job: `ray job submit --working-dir . -- python -m cluster.job --config FILE`.

Under `ray job submit` (or a KubeRay RayJob) the driver runs on the head node with
RAY_ADDRESS set, so `init_ray` joins that cluster. The driver only starts the run's
detached controller actor (cluster/controller.py), or finds it again, and follows it:
a driver that is killed or stopped (`ray job stop`) leaves the run going, and a job
submitted again for the same run directory waits on the same controller. A run directory
that already holds a run is resumed, so a job resubmitted after a failure (RayJob's
backoffLimit) continues where the last attempt stopped. The run directory should be on
storage that outlives the job's working directory (an absolute path, a mounted volume).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import msgspec

from actors.run_dir import CONFIG, RunStore
from cluster.config import ConfigError, RunConfig, load_config


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cluster.job", description=__doc__.split("\n")[0])
    p.add_argument("--config", help="a YAML RunConfig (default: the built-in defaults)")
    p.add_argument("--run-dir", help="where the run is kept; an existing run there is resumed")
    p.add_argument("--report", action="store_true", help="write report.md and report.html at the end")
    return p


def main(argv: list[str] | None = None) -> int:
    from cluster.config import load_run_config
    from cluster.controller import run_loop
    from cluster.loop import open_run

    args = build_parser().parse_args(argv)
    try:
        run_dir = Path(args.run_dir) if args.run_dir else None
        if run_dir is not None and RunStore(run_dir, create=False).exists(CONFIG):
            config = load_run_config(run_dir)
            print(f"resuming {run_dir}", flush=True)
        else:
            config = load_config(args.config, RunConfig) if args.config else RunConfig()
        config = msgspec.structs.replace(config, progress=False)  # a job log wants lines, not bars
        store = open_run(config, str(run_dir) if run_dir else None)
        print(f"run directory: {store.root}", flush=True)
        report = run_loop(config, store)
    except ConfigError as e:
        print(f"cluster.job: error: {e}", file=sys.stderr)
        return 2
    if args.report:
        from cluster.report import write_report

        write_report(store.root)
    print(json.dumps({"run_dir": str(store.root), "initial_id": report.initial_id, "final_id": report.final_id,
                      "initial_test": report.initial.pass_rate, "final_test": report.final.pass_rate}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
