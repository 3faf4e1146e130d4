"""The local sandbox backend: one bubblewrap (`bwrap`) process per command.

A sandbox is a temporary directory on the host holding `app/ tests/ logs/ solution/
tmp/ home/`; every `exec` starts a NEW `bwrap ... bash -c COMMAND` that sees those
directories at `/app /tests /logs /solution /tmp /root`. Nothing but the files survives
between commands (the harness layer adds shell persistence on top).

Why each isolation choice is made:

- `--unshare-all` (network, pid, ipc, uts, cgroup, mount, user namespaces): no network
  at all (only `lo`, down), and a private pid namespace so that every process a command
  starts dies with it: the sandbox's pid 1 is a small bash (`--as-pid-1`) that runs
  `bash -c COMMAND` as its child and reaps orphans; when the command exits, pid 1
  exits and the kernel kills whatever is left (background jobs, fork bombs). Killing
  pid 1 from outside therefore kills every descendant, with no process-tree walking.
  (bwrap's own init is not used: bwrap exits without reaping it, and the zombie, left
  to the host's init, would count against RLIMIT_NPROC below.)
- `--die-with-parent`: if the harness process dies, its sandboxes die too.
- `--new-session`: the command cannot push input into a terminal of ours (TIOCSTI).
- A read-only host system (`/usr`, `/etc`, and `/bin /lib /lib64 /sbin` as symlinks or
  read-only binds, mirroring the host) so host tools work but cannot be changed; the
  sandbox's own root and `/dev` are remounted read-only (`--remount-ro`), because they
  are tmpfs (RAM) that a command could otherwise fill without bound; `/dev/shm` is a
  tmpfs with a fixed `--size`. Nothing else of the host is mounted: not the host's
  `/root`, not the project directory, not `/home`, `/sys` or `/var`.
- `--clearenv` and a fixed environment: no host variables (tokens, paths) leak in.
- `--disable-userns`: the command cannot create nested user namespaces, which would
  give it capabilities (e.g. to mount) inside them.
- Python: the host's `/usr/bin/python3` is used (it lives under `/usr`). When the host
  has none, `sys.base_prefix` is bound read-only at the same path, but never when it
  lives under `/root` or the project directory, which must stay invisible.

Resource limits (`Limits`), and how they hold when the harness runs as root:

- RLIMIT_NPROC is not enforced for uid 0 (the kernel exempts the host's root user, and
  a user namespace that maps sandbox uid 1000 to host uid 0 is still host uid 0: checked
  here, 200 of 200 background processes started under `--uid 1000`). So when we are
  root, each sandbox gets its own unused HOST uid (from a reserved range, locked with
  `flock` so concurrent sandboxes, even in different processes, never share one) and
  bwrap is started as that uid (`Popen(user=...)`; unprivileged bwrap then makes a user
  namespace in which the command is uid 0, like in a container, with no capabilities).
  RLIMIT_NPROC then applies, and since the kernel counts it per (user namespace, uid),
  it counts exactly this sandbox's processes. A fork bomb hits the cap (forks fail with
  EAGAIN), keeps retrying until the wall clock kills the pid namespace, and is recorded
  as `killed_by='processes'` (the processes in its pid namespace are counted at the
  kill). As a non-root user the same applies with the user's own uid; the kernel then
  also compares the user's total process count with the limit, so the limit is raised
  by the number of processes the user already runs.
  A side benefit of a non-root host uid: host files readable only by root (e.g.
  `/etc/shadow`) stay unreadable through the read-only binds.
- RLIMIT_CPU (SIGXCPU at `cpu_seconds`, SIGKILL a second later), RLIMIT_AS
  (`memory_mb`, per process: a cgroup would be needed to bound the sum, and cgroups are
  not reliably writable where this runs), RLIMIT_FSIZE (`max_file_mb`, SIGXFSZ) and
  RLIMIT_CORE=0 are set with util-linux `prlimit` right before it execs bwrap (a
  `preexec_fn` is only the fallback: it is unsafe in threaded processes such as Ray
  workers).
- Disk: the writable directories are host directories (they must outlive one bwrap
  process, so bwrap's `--tmpfs --size` cannot hold them). A file is bounded by
  RLIMIT_FSIZE; the total is bounded by a watchdog that measures the sandbox directory
  while a command runs and kills the command once it has grown the sandbox beyond
  `disk_mb` over what the task's files took at open (`killed_by='disk'`); the wall
  clock bounds the rest.
- Wall clock: bwrap runs in its own process group; on timeout the sandbox's pid 1 is
  SIGKILLed (which kills the whole pid namespace), then the group, and we wait until
  no process of that pid namespace is left, so the next command starts clean.
- Output: stdout and stderr share one pipe, read in chunks; the first and last
  `max_output_bytes / 2` bytes are kept (with a `[... N bytes truncated ...]` line in
  between) and the rest is only counted, so a 100 MB line costs no more memory than
  the cap.
- `killed_by`: 'timeout', 'processes' (the process cap was hit: counted at a timeout,
  or bash's "fork: retry" messages), 'disk', 'closed' (`close()` from another thread),
  'cpu' (SIGXCPU, or SIGKILL after the CPU limit), 'file_size' (SIGXFSZ),
  'memory' (detected from the allocation-failure messages programs print; RLIMIT_AS
  makes allocations fail rather than sending a signal), else 'signal N' for a crash.
  A shell reports a killed child as exit code 128+N, so a command that itself runs
  `exit 153` is indistinguishable from SIGXFSZ; that is inherent to `bash -c`.
- Infrastructure failures are told apart from the command's own failures with bwrap's
  `--json-status-fd`: it reports an exit code only once the sandbox was set up and the
  command started; when it does not, `SandboxError` carries bwrap's own message.

The verifier (`run_verifier`) runs in a context the agent never had: the host compares the
sandbox's `tests/` and `logs/verifier/` with their state at open (what the agent left there is
tampering, see integrity.py), replaces both, and runs the verifier with `/tests` bound read-only
and the base environment. No process of the agent's can be left to interfere: every command's
processes die with its pid namespace.

Host-side file access (`write_file`, `read_file`, `upload_dir`) resolves sandbox paths
on the host as the sandbox would see them: symlinks the agent made are followed inside
the sandbox's roots only, so a link to `/etc/shadow` or `../../..` is refused instead
of being followed on the host as root. No sandbox process runs while they do so (a
command's processes all die with its pid namespace), so nothing can swap a path.

The modules: `backend` makes sandboxes, `sandbox` is one (its files and the verifier), `run`
runs one command in it, `bwrap` builds that command's line and limits, `processes` stops and
reaps what it started, `disk` is the disk watchdog, `paths` resolves sandbox paths on the host,
`hostdir` makes and removes the sandbox's directory, `uids` leases host uids;
actors/sandbox/output.py keeps the output (shared with the kubernetes backend).
"""

from actors.sandbox.local.backend import PROJECT_DIR, LocalSandboxBackend
from actors.sandbox.local.bwrap import BASE_ENV, INSTALL_HINT
from actors.sandbox.local.paths import ROOTS, SandboxPathError
from actors.sandbox.local.run import KILLED_EXIT, TIMEOUT_EXIT
from actors.sandbox.local.sandbox import LocalSandbox

__all__ = ["BASE_ENV", "INSTALL_HINT", "KILLED_EXIT", "PROJECT_DIR", "ROOTS", "TIMEOUT_EXIT", "LocalSandbox",
           "LocalSandboxBackend", "SandboxPathError"]
