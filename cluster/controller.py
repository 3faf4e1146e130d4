"""The run's controller: a named, detached Ray actor that owns the loop.

A driver (`selfharness run`, `resume`, or the `ray job submit` entrypoint) starts it or
finds it again by the run directory, then waits on it. When the driver disconnects the
run goes on; when the controller dies Ray restarts it and it resumes from the run
directory (nothing finished is redone, decisions are the same). `status` answers live
progress while it is alive; `selfharness status` falls back to the run directory.
"""

from __future__ import annotations

import hashlib
import threading
import time
import traceback
import uuid
from pathlib import Path

import msgspec

from actors.records import CandidateTally, FinalReport, LiveStatus, RunState
from actors.run_dir import EPISODES, STATE, RunStore
from cluster.config import RunConfig
from cluster.loop import LoopOnRay

NAMESPACE = "selfharness"
LINGER_S = 600.0
"""How long a finished controller waits for a driver to collect its result before it exits."""
POLL_S = 1.0


def controller_name(run_dir: Path | str) -> str:
    """One controller per run directory, wherever the driver runs from."""
    return "run-" + hashlib.sha256(str(Path(run_dir).resolve()).encode()).hexdigest()[:16]


class RunController:
    """Runs the loop in a thread of its own process; the methods answer while it runs."""

    def __init__(self, config: RunConfig, run_dir: str):
        self.life = uuid.uuid4().hex[:8]
        self.store = RunStore(run_dir)
        self.lines: list[str] = []
        self.report: FinalReport | None = None
        self.error: str | None = None
        self.collected = threading.Event()
        self.loop = LoopOnRay(msgspec.structs.replace(config, progress=False), self.store, log=self._log)
        self._thread = threading.Thread(target=self._run, name="controller", daemon=True)
        self._thread.start()

    def _log(self, *parts) -> None:
        line = " ".join(str(p) for p in parts)
        print(line, flush=True)  # the actor's log file
        self.lines.append(line)

    def _run(self) -> None:
        try:
            self.report = self.loop.run()
        except BaseException as e:  # the driver shows it; a restart would only repeat it
            self.error = f"{type(e).__name__}: {e}\n{traceback.format_exc()[-3000:]}"
            self._log(f"controller: the run failed: {type(e).__name__}: {e}")
        if not self.collected.wait(LINGER_S):  # nobody came for the result: free the cluster's resources
            import ray

            ray.kill(ray.get_runtime_context().current_actor, no_restart=True)

    def logs(self, since: int) -> tuple[str, list[str]]:
        """This life's id and its log lines from `since` on (a restarted controller starts a new life)."""
        return self.life, self.lines[since:]

    def status(self) -> LiveStatus:
        return live_status(self.store, self.loop, alive=True, life=self.life, error=self.error,
                           done=self.report is not None)

    def result(self) -> FinalReport | None:
        if self.report is not None:
            self.collected.set()
        return self.report


def live_status(store: RunStore, loop=None, **kw) -> LiveStatus:
    """Where a run is: from its controller's memory when `loop` is given, else from its directory."""
    state = store.read(STATE) or RunState()
    kw.setdefault("done", state.done)
    status = LiveStatus(run_dir=str(store.root), round=state.round, stage=state.phase, harness_id=state.harness_id,
                        episodes_recorded=store.count_lines(EPISODES), **kw)
    pipeline = getattr(loop, "pipeline", None)
    if pipeline is not None:
        p = pipeline.progress
        status.batch = msgspec.structs.replace(p, reruns=pipeline.reruns + (p.reruns if p.queued or p.running else 0))
        status.workers = {node[:12]: cell["slots"] for node, cell in pipeline.placement().items()}
    controller = getattr(loop, "controller", None)
    if controller is not None:
        status.candidates = [CandidateTally(**t) for t in controller.validator.live.values()]
    return status


def start_controller(config: RunConfig, store: RunStore):
    """The run's controller actor: found again when it runs (a driver came back), else started."""
    import ray

    from cluster.ray_init import init_ray

    init_ray()
    Controller = ray.remote(RunController).options(
        name=controller_name(store.root), namespace=NAMESPACE, lifetime="detached", get_if_exists=True,
        num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=8)
    return Controller.remote(config, str(store.root))


def find_controller(run_dir: Path | str):
    """The run's controller actor if it is alive on the cluster this process is connected to, else None."""
    import ray

    try:
        return ray.get_actor(controller_name(run_dir), namespace=NAMESPACE)
    except ValueError:
        return None


def wait_for(handle, log=print, progress: bool = False) -> FinalReport:
    """Follow a controller to the end of its run: its log lines and (on a terminal) a progress bar."""
    import ray
    from tqdm import tqdm

    import sys

    life, seen, shown = None, 0, None
    bar = tqdm(disable=not (progress and sys.stderr.isatty()), unit="ep")  # a log file wants lines, not frames
    try:
        while True:
            now_life, lines = ray.get(handle.logs.remote(seen))
            if life is not None and now_life != life:
                log("controller restarted: resuming from the run directory")
                seen = 0
                now_life, lines = ray.get(handle.logs.remote(0))
            life = now_life
            seen += len(lines)
            for line in lines:
                bar.clear()
                log(line)
            status: LiveStatus = ray.get(handle.status.remote())
            if status.error:
                raise RuntimeError(f"the run's controller failed: {status.error}")
            if not bar.disable and status.batch is not None:
                if shown != status.batch.desc:
                    shown = status.batch.desc
                    bar.reset(total=status.batch.total)  # a new batch: its own count and clock
                    bar.set_description(shown, refresh=False)
                bar.n = status.batch.done
                bar.refresh()
            if status.done:
                report = ray.get(handle.result.remote())
                if report is not None:
                    return report
            time.sleep(POLL_S)
    finally:
        bar.close()


def stop_controller(handle) -> None:
    import ray

    try:
        ray.kill(handle, no_restart=True)
    except Exception:
        pass


def run_loop(config: RunConfig, store: RunStore, log=print, progress: bool | None = None) -> FinalReport:
    """The whole loop on Ray, under the run's controller actor; this process only follows it.

    Ctrl-C stops the run (a person asked); a driver that is killed or disconnects leaves it running.
    """
    handle = start_controller(config, store)
    try:
        report = wait_for(handle, log, progress=config.progress if progress is None else progress)
    except KeyboardInterrupt:
        stop_controller(handle)
        raise
    except RuntimeError:
        stop_controller(handle)
        raise
    stop_controller(handle)
    return report


def format_status(s: LiveStatus) -> str:
    """The lines `selfharness status` prints."""
    where = "live, from its controller" if s.alive else "from the run directory (no live controller)"
    lines = [f"run {s.run_dir} ({where})",
             f"round {s.round}, stage {s.stage or '-'}, harness {s.harness_id or '-'}"
             + (", done" if s.done else ""),
             f"episodes recorded: {s.episodes_recorded}"]
    b = s.batch
    if b is not None and b.desc:
        lines.append(f"now: {b.desc}: {b.done}/{b.total} done, {b.queued} queued, {b.running} running"
                     + (f"; {b.reruns} run again after faults" if b.reruns else ""))
    if s.workers:
        lines.append("slots per node: " + ", ".join(f"{n} {k}" for n, k in sorted(s.workers.items())))
    for c in s.candidates:
        lines.append(f"  {c.proposal_id:<8} train +{c.gains_train}/-{c.losses_train}  val +{c.gains_val}/-{c.losses_val}"
                     f"  {c.episodes} episodes  {c.state}")
    if s.error:
        lines.append(f"error: {s.error.splitlines()[0]}")
    return "\n".join(lines)


def run_status(run_dir: Path | str, timeout_s: float = 30.0, connect: bool = True) -> LiveStatus:
    """A run's live status from its controller when a cluster with it is up, else from its directory.
    `connect=False`: ask a controller only if this process is on Ray already (a Serve replica)."""
    import ray

    from cluster.ray_init import existing_cluster, init_ray

    store = RunStore(run_dir, create=False)
    address = None if ray.is_initialized() or not connect else existing_cluster()
    if ray.is_initialized() or address is not None:
        try:
            init_ray(address)
            handle = find_controller(store.root)
            if handle is not None:
                return ray.get(handle.status.remote(), timeout=timeout_s)
        except Exception:  # a cluster that does not answer is no live controller
            pass
    return live_status(store)
