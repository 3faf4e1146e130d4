"""Shared fixtures: the fixture suite, sim profiles with one quirk at a time, the local sandbox."""

from __future__ import annotations

import functools
import re
import shutil
from pathlib import Path

import pytest

from actors.model.sim import QUIRKS, Profile, Quirk, SimModel
from harnesses.spec import load_harness
from harnesses.tasks import load_suite

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SUITE = ROOT / "tests" / "fixtures" / "suite"
CORE_SUITE = ROOT / "benchmarks" / "suites" / "core"

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def only(quirk: str | None, rate: float = 1.0) -> Profile:
    """A profile whose only failure is `quirk` (None: a flawless model)."""
    quirks = {q: Quirk(rate=rate if q == quirk else 0.0) for q in QUIRKS}
    return Profile(name=f"only-{quirk}", quirks=quirks, explore_turns=(40, 40), capability={})


@pytest.fixture(scope="session")
def fixture_suite():
    return load_suite(FIXTURE_SUITE)


@pytest.fixture(scope="session")
def word_task(fixture_suite):
    return fixture_suite.tasks["word-report"]


@pytest.fixture(scope="session")
def minimal():
    return load_harness(ROOT / "harnesses" / "minimal.yaml")


@pytest.fixture()
def backend():
    from actors.sandbox.local import LocalSandboxBackend

    return LocalSandboxBackend()


@pytest.fixture(scope="session")
def docker_host():
    """A private dockerd for this test session (own socket, data root, stopped at the end), with the offline
    base images the core suite starts FROM (debootstrap once per machine; actors/sandbox/docker/baseimage.py)."""
    import os
    import tempfile

    if shutil.which("dockerd") is None or shutil.which("debootstrap") is None or os.geteuid() != 0:
        pytest.skip("the docker tests need root, dockerd and debootstrap (cluster/setup.sh installs them)")
    import docker

    from actors.sandbox.docker.baseimage import import_base
    from actors.sandbox.docker.dockerd import PrivateDockerd

    root = Path(tempfile.mkdtemp(prefix="shd-", dir="/tmp"))
    daemon = PrivateDockerd(root).start()
    try:
        import_base(docker.DockerClient(base_url=daemon.host))
        yield daemon.host
    finally:
        daemon.stop()
        shutil.rmtree(root, ignore_errors=True)


def sim(quirk: str | None, tasks, rate: float = 1.0) -> SimModel:
    return SimModel(only(quirk, rate), list(tasks))


# -- slow tests: what `make test-fast` leaves out ---------------------------------------------------------
#
# Every collected test is read for what it starts: its own code, the fixtures it uses (their whole closure,
# conftest ones included), the functions and classes of tests/ these name (followed transitively), and the
# top-level statements of its module. Comments and docstrings do not count. A test that starts Ray (or Ray
# Serve), a browser or Prometheus, runs `ray start`/`ray job submit`, spawns a `selfharness` command that
# starts Ray, runs a batch of sandbox episodes (a rollout, a loop, a suite check, the red team), loads a real
# model (llama.cpp) or runs anything in a real sandbox (bubblewrap: `needs_bwrap`, or a sandbox backend it makes) is marked `slow`, as
# is a test marked `ray`. `make test-fast` (pytest -m "not slow") leaves those out and lists them.

_Q = r"[\"']"
SANDBOX_REASON = "runs commands in a real sandbox"
CLI_REASON = "spawns a `selfharness` command that starts Ray"
HEAVY: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("starts Ray", re.compile(r"\bray\.init\(|\binit_ray\(|\bcluster_utils\b|\bRolloutPipeline\b|\brun_rollout\(|"
                              r"\brun_loop\(|\bstart_vllm\(|\bstart_llamacpp\(")),
    ("loads a real model", re.compile(r"(?<!\w)LlamaCppModel\(")),
    ("starts Ray Serve", re.compile(r"\bserve\.(?:start|run)\(")),
    ("starts a browser", re.compile(r"\b(?:playwright|selenium|chromium)\b", re.IGNORECASE)),
    ("starts Prometheus", re.compile(rf"which\(\s*{_Q}prometheus{_Q}\s*\)|\bstart_prometheus\(")),
    ("runs `ray start` or `ray job submit`",
     re.compile(rf"{_Q}ray{_Q}\)?\s*,\s*{_Q}(?:start|job){_Q}|{_Q}job{_Q}\s*,\s*{_Q}submit{_Q}")),
    ("runs `selfharness run/resume/rollout/serve` in this process",
     re.compile(rf"(?<!\w)main\(\s*\[\s*{_Q}(?:run|resume|rollout|serve){_Q}")),
    ("imports a heavy optional package", re.compile(rf"importorskip\(\s*{_Q}(?:ray|playwright|selenium){_Q}")),
    ("runs a batch of sandbox episodes (rollout, loop, suite check or red team)",
     re.compile(r"(?<!\w)(?:run_loop_bare|run_rollout_bare|run_episodes|check_suite|red_team)\(")),
    (SANDBOX_REASON, re.compile(r"(?<!\w)(?:LocalSandbox|LocalSandboxBackend|KubernetesSandboxBackend|"
                                r"DockerSandboxBackend|PrivateDockerd)\(")),
)
RAY_SUBCOMMANDS = {"run", "resume", "rollout", "serve"}
"""`selfharness` subcommands that start Ray (`python -m cluster.job` always does)."""
SPAWNERS = {"run", "Popen", "call", "check_call", "check_output"}
"""subprocess's ways to start a program."""

SLOW_REASONS = pytest.StashKey[list[str]]()
_deselected: list[pytest.Item] = []


@functools.cache
def _code_text(source: str) -> str:
    """`source` with its comments and docstrings (strings that are a whole statement) blanked out."""
    import io
    import tokenize

    try:
        toks = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return source
    starts = (tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT)
    significant = [t for t in toks if t.type not in (tokenize.NL, tokenize.COMMENT)]
    cut = [(t.start, t.end) for t in toks if t.type == tokenize.COMMENT]
    for i, t in enumerate(significant):
        if t.type == tokenize.STRING and (i == 0 or significant[i - 1].type in starts) \
                and (i + 1 == len(significant) or significant[i + 1].type in (tokenize.NEWLINE, tokenize.ENDMARKER)):
            cut.append((t.start, t.end))
    lines = source.splitlines(keepends=True)
    for (r0, c0), (r1, c1) in sorted(cut, reverse=True):
        lines[r0 - 1:r1] = [lines[r0 - 1][:c0] + lines[r1 - 1][c1:]]
    return "".join(lines)


@functools.cache
def _cli_spawn(source: str) -> bool:
    """Whether `source` starts `selfharness` (or `python -m cluster.cli`/`cluster.job`) in a subprocess with a
    subcommand that starts Ray, or with arguments passed through from its caller."""
    import ast
    import textwrap

    if "cluster." not in source and "selfharness" not in source:
        return False
    try:
        tree = ast.parse(textwrap.dedent(source))
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], (ast.List, ast.Tuple))):
            continue
        f = node.func
        if not ((isinstance(f, ast.Attribute) and f.attr in SPAWNERS and isinstance(f.value, ast.Name)
                 and f.value.id == "subprocess") or (isinstance(f, ast.Name) and f.id in SPAWNERS)):
            continue
        argv = node.args[0].elts
        words = [e.value for e in argv if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        if "cluster.job" in words:
            return True
        cli = [i for i, e in enumerate(argv) if isinstance(e, ast.Constant) and e.value == "cluster.cli"
               or "selfharness" in ast.unparse(e)]
        if cli:
            rest = argv[cli[0] + 1:]
            first = rest[0] if rest else None
            if first is None or not isinstance(first, ast.Constant) or first.value in RAY_SUBCOMMANDS:
                return True  # a subcommand that starts Ray, or one the caller chooses
    return False


def _in_tests(obj) -> bool:
    import inspect

    try:
        path = inspect.getsourcefile(obj)
    except TypeError:
        return False
    return path is not None and Path(path).resolve().is_relative_to(ROOT / "tests")


def _names(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names(const)
    return names


_read_cache: dict[int, tuple[object, str | None, list]] = {}


def _read(obj) -> tuple[str | None, list]:
    """The source of a function or class of tests/ (None: elsewhere) and the functions and classes it names."""
    import inspect

    hit = _read_cache.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1], hit[2]
    source, named = None, []
    if _in_tests(obj):
        try:
            source = inspect.getsource(obj)
        except (OSError, TypeError):
            pass
    if source is not None:
        funcs = [obj] if inspect.isfunction(obj) else [f for _, f in inspect.getmembers(obj, inspect.isfunction)]
        for f in funcs:
            g = getattr(f, "__globals__", {})
            named += [g[n] for n in _names(f.__code__)
                      if n in g and (inspect.isfunction(g[n]) or inspect.isclass(g[n]))]
    _read_cache[id(obj)] = (obj, source, named)
    return source, named


def _sources(roots: list) -> list[str]:
    """The source of `roots` and of every function or class of tests/ they name, transitively."""
    import inspect

    seen, todo, sources = set(), list(roots), []
    while todo:
        obj = todo.pop()
        obj = inspect.unwrap(getattr(obj, "__func__", obj))  # a method: its function
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        source, named = _read(obj)
        if source is not None:
            sources.append(source)
            todo += named
    return sources


@functools.cache
def _module_text(path: str) -> str:
    """The top-level statements of a test module that are not definitions, imports or docstrings."""
    import ast

    try:
        source = Path(path).read_text()
        tree = ast.parse(source)
    except (OSError, SyntaxError, ValueError):
        return ""
    skip = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)
    lines = source.splitlines()
    return "\n".join("\n".join(lines[node.lineno - 1:node.end_lineno]) for node in tree.body
                     if not isinstance(node, skip)
                     and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)))


@functools.cache
def _source_reasons(source: str) -> tuple[str, ...]:
    text = _code_text(source)
    return tuple(why for why, pattern in HEAVY if pattern.search(text)) + ((CLI_REASON,) if _cli_spawn(source) else ())


def slow_reasons(item: pytest.Item) -> list[str]:
    """Why `item` is not a unit test (empty: it is one)."""
    found = ["marked `ray`"] if item.get_closest_marker("ray") else []
    if any("bubblewrap" in str(m.kwargs.get("reason", "")) for m in item.iter_markers("skipif")):
        found.append(SANDBOX_REASON)  # needs_bwrap
    func = getattr(item, "obj", None)
    if func is None:
        return found
    roots = [func]
    info = getattr(item, "_fixtureinfo", None)
    for defs in (getattr(info, "name2fixturedefs", None) or {}).values():
        roots += [d.func for d in defs]
    sources = _sources(roots)
    module = getattr(getattr(item, "module", None), "__file__", None)
    if module:
        sources.append(_module_text(module))
    for source in sources:
        found += _source_reasons(source)
    return list(dict.fromkeys(found))


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(config, items):
    for item in items:
        reasons = slow_reasons(item)
        if reasons:
            item.stash[SLOW_REASONS] = reasons
            item.add_marker(pytest.mark.slow)


def pytest_deselected(items):
    _deselected.extend(i for i in items if SLOW_REASONS in i.stash)


def pytest_terminal_summary(terminalreporter, config):
    """Which slow tests `-m "not slow"` left out and why: per file, or per test with -v."""
    if not _deselected:
        return
    tr = terminalreporter
    tr.write_sep("-", f"{len(_deselected)} slow tests deselected (`make test` runs them)")
    if any(re.fullmatch(r"-v+|--verbose", a) for a in config.invocation_params.args):  # addopts has -q
        for item in _deselected:
            tr.write_line(f"{item.nodeid}: {'; '.join(item.stash[SLOW_REASONS])}")
        return
    by_file: dict[str, tuple[int, dict[str, None]]] = {}
    for item in _deselected:
        n, why = by_file.get(item.location[0], (0, {}))
        by_file[item.location[0]] = (n + 1, {**why, **dict.fromkeys(item.stash[SLOW_REASONS])})
    for path, (n, why) in sorted(by_file.items()):
        tr.write_line(f"{path}: {n} ({'; '.join(why)})")
