"""The verifier's clean context in a container (kubernetes, docker): backends whose files and
processes live on after a command, and whose only way in is a new process in the container.

`verify(sandbox, baseline, ...)`, in this order:

1. **Stop the agent's processes.** Every process in the container but its pid 1 (the pod's
   keep-alive, ours) is frozen with SIGSTOP and then gets SIGKILL (`kill -SIG -1`, which the
   kernel applies to all at once, so nothing forks away from it), and the script waits until
   none of them is left. A background writer the agent left therefore cannot touch the reward
   after `test.sh` writes it, nor anything the next steps look at. What was stopped is noted
   in the trace.
2. **Look.** A snapshot of `/tests` and `/logs/verifier` (a `tar -c` streamed out, parsed on
   our side; links are not followed) is compared with the one taken when the sandbox opened:
   what the agent planted, changed or removed there is tampering (integrity.py). A task whose tests need the agent's processes (a server
   it started) says `[verifier] keep_processes = true`; then nothing is stopped and the rest
   is detection, not prevention: canary reward files are written before the verifier and
   must stay as written for `SETTLE_S`, the reward is read again `SETTLE_S` after the
   verifier and must not have changed, and `/tests` must still hold exactly the task's tests.
   A process that waits for the verifier itself and forges within the same instant can evade
   that; say `keep_processes` only for tasks that need it.
3. **Reset.** `/tests` is emptied (it is a mount point in a pod) and gets the task's tests, as
   one tar; `/logs/verifier` is replaced by an empty directory; a link or a file in place of
   `/logs` or `/tests` is removed first. A second snapshot must show exactly that, or what
   survived (an immutable file, a process re-planting in keep mode) is tampering too.
   `/tests` stays writable: a container's mounts are fixed when it starts, and an agent that
   runs as root could not be kept from a writable one anyway.
4. **Run** `command` as a new process (`exec`): the container's own environment (the image's),
   never the agent's shell state, plus `VERIFIER_ENV`, in the task's working directory.
5. **Read** the reward files that run wrote.

What this cannot vouch for: the agent is root in a writable root filesystem (as in Harbor), so
the interpreter and libraries the tests run with are as the agent left them; the local
backend runs the verifier on a read-only system.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from actors.sandbox.integrity import (IGNORED_AFTER, Snapshot, cap, diff, expected_tests, read_rewards, tar_snapshot,
                                      under, unexpected)
from harnesses.sandbox import (LOGS_DIR, REWARD_FILES, TESTS_DIR, VERIFIER_DIR, VERIFIER_ENV, ExecResult, SandboxError,
                               VerifierRun)
from harnesses.trace import Tampering

SETTLE_S = 1.0
"""keep_processes: how long canary rewards must stay as written, and how long after the verifier the
reward is read again."""
SNAPSHOT_CAP = 8 << 20
"""Bytes of tar a snapshot reads at most; beyond that the snapshot records an overflow."""
KEEP_ALIVE_CMD = "sleep 3600"
"""The child of the pod's keep-alive pid 1 (kubernetes.pod.KEEP_ALIVE): stopped and restarted, never the agent's."""

SNAPSHOT = r"""cap=$1
kind() {
  if [ -L "$1" ]; then printf 'symlink %s' "$(readlink -- "$1")"
  elif [ -d "$1" ]; then if [ "$1" = /logs ]; then printf 'mode %s' "$(stat -c %a -- "$1" 2>/dev/null || echo 0)"; else printf dir; fi
  elif [ -p "$1" ]; then printf fifo
  elif [ -S "$1" ]; then printf socket
  elif [ -f "$1" ]; then printf file
  elif [ -e "$1" ]; then printf other
  else printf missing; fi
}
for p in /tests /logs /logs/verifier; do printf '%s\t%s\n' "$p" "$(kind "$p")" >&2; done
set --
{ [ -d /tests ] && [ ! -L /tests ]; } && set -- "$@" tests
{ [ -d /logs/verifier ] && [ ! -L /logs/verifier ] && [ ! -L /logs ]; } && set -- "$@" logs/verifier
[ $# -gt 0 ] || exit 0
cd / && tar -cf - -- "$@" 2>/dev/null | head -c "$cap"
exit 0
"""

STOP = r"""kill -STOP -1 2>/dev/null
self=$$
scan() {
  ids=()
  for d in /proc/[0-9]*; do
    p=${d#/proc/}
    { [ "$p" = 1 ] || [ "$p" = "$self" ]; } && continue
    read -r st < "$d/stat" 2>/dev/null || continue
    set -- ${st##*) }
    { [ "$1" = Z ] || [ "$2" = "$self" ]; } && continue
    ids+=("$p:$2:${20}")
  done
}
scan
first=("${ids[@]}")
for id in "${first[@]}"; do
  p=${id%%:*}; rest=${id#*:}; c=
  while IFS= read -r -d '' a; do c="$c $a"; done < "/proc/$p/cmdline" 2>/dev/null
  printf '%s\t%s\t%s\n' "$p" "${rest%%:*}" "${c# }"
done
[ ${#first[@]} -gt 0 ] || exit 0
for ((i = 0; i < 100; i++)); do
  kill -KILL -1 2>/dev/null
  scan
  left=0
  for id in "${first[@]}"; do
    for now in "${ids[@]}"; do [ "${id%%:*}:${id##*:}" = "${now%%:*}:${now##*:}" ] && left=1; done
  done
  [ "$left" = 0 ] && exit 0
  sleep 0.05
done
exit 3
"""
"""Freezes every process but pid 1 and itself at once (SIGSTOP, which none can catch: a process that
kills whatever starts cannot kill what comes next), prints them (pid, ppid, command line), SIGKILLs
them all and waits until they are gone; exit 3 if some outlive SIGKILL."""

RESET = r"""shopt -s dotglob nullglob
for p in /tests /logs; do
  { [ -L "$p" ] || { [ -e "$p" ] && [ ! -d "$p" ]; }; } && rm -f -- "$p"
  mkdir -p -- "$p"; { [ -w "$p" ] && [ -x "$p" ]; } || chmod u+rwx -- "$p"
done
# read-only directories stop even root where it has no CAP_DAC_OVERRIDE (run_as_user): open them
# first; chmod -R never follows the links it meets, and a link in place of a directory is removed
chmod -R u+rwx -- /tests 2>/dev/null
{ [ -d /logs/verifier ] && [ ! -L /logs/verifier ]; } && chmod -R u+rwx -- /logs/verifier 2>/dev/null
chmod 755 /tests 2>/dev/null
rm -rf -- /tests/* /logs/verifier
mkdir -p /logs/verifier && chmod 755 /logs/verifier
exit 0
"""

CLEAR_CANARIES = "rm -f -- " + " ".join(f"{VERIFIER_DIR}/{f}" for f in REWARD_FILES)
CANARIES = {"reward.txt": b"0\n", "reward.json": b'{"reward": 0}\n'}


class ContainerSandbox(Protocol):
    """What a container backend's sandbox offers the procedure (besides the Sandbox protocol)."""

    def script(self, script: str, args: list[str], *, what: str) -> tuple[int, bytes, bytes]:
        """Run `bash -c script` with `args` as a new process (not an agent command): exit code,
        stdout, stderr. Safe to retry."""
        ...

    def exec(self, command: str, *, timeout_s: float, cwd: str = "/app",
             env: dict[str, str] | None = None) -> ExecResult: ...

    def upload_dir(self, local_dir: Path, sandbox_path: str) -> None: ...

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes) -> None: ...


KILLED = 128 + 9


class Killed(Exception):
    """A script of ours was SIGKILLed inside the container: by a process the agent left (or by the
    container's memory limit, which the agent's processes fill). The agent's doing, never an
    infrastructure failure: the exec stream and the pod are fine."""


def _run(sandbox: ContainerSandbox, script: str, args: list[str], what: str, ok: tuple[int, ...] = (0,)
         ) -> tuple[int, bytes, bytes]:
    code, out, err = sandbox.script(script, args, what=what)
    if code == KILLED:
        raise Killed(what)
    if code not in ok:
        raise SandboxError(f"{what}: exit {code}: {err.decode(errors='replace')[-300:]}")
    return code, out, err


def snapshot(sandbox: ContainerSandbox) -> Snapshot:
    _, out, err = _run(sandbox, SNAPSHOT, [str(SNAPSHOT_CAP)], "the verifier's snapshot")
    tops = {}
    for line in err.decode(errors="replace").splitlines():
        path, _, kind = line.partition("\t")
        if path in (TESTS_DIR, LOGS_DIR, VERIFIER_DIR) and kind:
            tops[path] = kind
    return tar_snapshot(out, tops)


def stop_processes(sandbox: ContainerSandbox, tries: int = 20) -> tuple[list[str], bool]:
    """SIGKILL every process but pid 1: (what was stopped, whether all are gone). A script that an agent's
    process killed before its first line ran (exit 137) is run again: on a loaded node a killer that polls
    every few milliseconds wins a few races in a row, and each try is one exec."""
    for _ in range(tries):
        code, out, _ = sandbox.script(STOP, [], what="stopping the agent's processes")
        if code != KILLED:
            break
    if code == KILLED:
        raise Killed("stopping the agent's processes")
    if code not in (0, 3):
        raise SandboxError(f"stopping the agent's processes: exit {code}")
    stopped = []
    for line in out.decode(errors="replace").splitlines():
        pid, ppid, cmd = (line.split("\t", 2) + ["", ""])[:3]
        if not (ppid == "1" and cmd == KEEP_ALIVE_CMD):
            stopped.append(f"{pid} {cmd[:120]}".strip())
    return stopped, code == 0


def _changed_rewards(before: dict[str, bytes], after: dict[str, bytes], when: str) -> list[Tampering]:
    return [Tampering(path=f"{VERIFIER_DIR}/{n}", change="reward_changed",
                      detail=f"{before.get(n, b'(none)')[:40]!r} -> {after.get(n, b'(none)')[:40]!r} {when}")
            for n in REWARD_FILES if before.get(n) != after.get(n)]


def verify(sandbox: ContainerSandbox, baseline: Snapshot, tests_dir: Path, command: str, *, timeout_s: float,
           cwd: str, keep_processes: bool, settle_s: float = SETTLE_S) -> VerifierRun:
    """The procedure of the module docstring; raises SandboxError only when the container fails. A step
    killed inside the container ends it as tampering."""
    found: list[Tampering] = []
    try:
        return _verify(sandbox, baseline, tests_dir, command, found, timeout_s=timeout_s, cwd=cwd,
                       keep_processes=keep_processes, settle_s=settle_s)
    except Killed as e:
        found.append(Tampering(path="/proc", change="not_cleared",
                               detail=f"a process in the container killed the verification ({e})"))
        return VerifierRun(result=ExecResult(exit_code=KILLED, output=f"killed: {e}", duration_s=0.0),
                           tampering=tuple(cap(found)))


def _verify(sandbox: ContainerSandbox, baseline: Snapshot, tests_dir: Path, command: str, found: list[Tampering],
            *, timeout_s: float, cwd: str, keep_processes: bool, settle_s: float) -> VerifierRun:
    notes: list[str] = []
    if not keep_processes:  # first: from here on nothing of the agent's can act
        stopped, gone = stop_processes(sandbox)
        if stopped:
            notes.append(f"stopped {len(stopped)} process(es) left running before the verifier: "
                         + "; ".join(stopped[:10]))
        if not gone:
            found.append(Tampering(path="/proc", change="not_cleared", detail="processes outlived SIGKILL"))
    found += diff(baseline, snapshot(sandbox))
    _run(sandbox, RESET, [], "resetting the verifier's directories")
    try:
        sandbox.upload_dir(Path(tests_dir), TESTS_DIR)
    except OSError as e:  # what the agent left stops the copy: its doing, never an infrastructure failure
        found.append(Tampering(path=TESTS_DIR, change="not_cleared", detail=f"the tests could not be placed: {e}"))
    expected = expected_tests(tests_dir)
    if keep_processes:
        for name, data in CANARIES.items():
            sandbox.write_file(f"{VERIFIER_DIR}/{name}", data)
        time.sleep(settle_s)
        found += _changed_rewards(CANARIES, read_rewards(sandbox), "before the verifier ran (a canary)")
        _run(sandbox, CLEAR_CANARIES, [], "clearing the canaries")
    found += unexpected(expected, under(snapshot(sandbox), TESTS_DIR, VERIFIER_DIR), change="not_cleared")
    result = sandbox.exec(command, timeout_s=timeout_s, cwd=cwd, env=dict(VERIFIER_ENV))
    rewards = read_rewards(sandbox)
    if keep_processes and result.exit_code == KILLED and not rewards:
        raise Killed("the verifier, which wrote no reward, while the agent's processes ran")
    if keep_processes:
        time.sleep(settle_s)
        found += _changed_rewards(rewards, read_rewards(sandbox), f"within {settle_s:g}s after the verifier")
        found += unexpected(under(expected, TESTS_DIR), under(snapshot(sandbox), TESTS_DIR), change="changed",
                            ignore=IGNORED_AFTER)
    return VerifierRun(result=result, rewards=rewards, tampering=tuple(cap(found)), notes=tuple(notes))
