"""The house runs one way (ARCHITECTURE.md): every import of the project, lazy ones included,
goes down the layers, no module imports itself back through others, no private name crosses a
module, Ray is composed only in cluster/ and serve/, and no file of the layers passes 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("harnesses", "actors", "cluster", "serve")
"""Bottom to top: a package may import its own layer and those below it."""
TOP = ("benchmarks",)
"""Scripts and checks over everything (never imported by the layers, except by a CLI)."""
PACKAGES = LAYERS + TOP + ("tests",)
CLI = ("cluster.cli", "cluster.cli_review", "cluster.job")
"""Command-line entry points: they may import anything but tests/."""
COMPOSERS = ("cluster", "serve")
"""Where ray.remote, ray.init and serve.deployment may appear."""
RAY_COMPOSING = {("ray", "remote"), ("ray", "init"), ("serve", "deployment")}
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "suites" not in path.relative_to(ROOT).parts:  # task files run inside sandboxes
                out[module_name(path)] = path
    return out


SOURCES = sources()


def resolve(name: str) -> str | None:
    """The project module an imported name lands in (a module, or the package of an imported symbol)."""
    while name:
        if name in SOURCES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(module: str) -> list[tuple[str, int, list[str]]]:
    """(imported module, line, names imported from it) for every import in a module, at any depth."""
    path = SOURCES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [a.name for a in node.names]
            out.append((base, node.lineno, names))
            out += [(f"{base}.{n}", node.lineno, []) for n in names if f"{base}.{n}" in SOURCES]
    return [(t, line, names) for t, line, names in out if t.split(".")[0] in PACKAGES]


def allowed(src: str, dst: str) -> bool:
    a, b = src.split(".")[0], dst.split(".")[0]
    if b == "tests":
        return a == "tests"
    if a in ("tests",) + TOP or src in CLI:
        return True
    if b in TOP:
        return False
    return LAYERS.index(b) <= LAYERS.index(a)


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in SOURCES}
    for m in SOURCES:
        for target, _, _ in imports(m):
            dst = resolve(target)
            if dst and dst != m and not (m.startswith(dst + ".") or dst == m.rpartition(".")[0]):
                edges[m].add(dst)
    return edges


def test_imports_go_down_the_layers():
    upward = [f"{SOURCES[m].relative_to(ROOT)}:{line} imports {t}" for m in SOURCES for t, line, _ in imports(m)
              if resolve(t) and not allowed(m, resolve(t))]
    assert upward == [], "imports against the layers:\n" + "\n".join(upward)


def test_no_import_cycles():
    edges = {m: e for m, e in graph().items() if not m.startswith("tests")}
    cycles, state = [], {}

    def visit(m, stack):
        state[m] = 1
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                cycles.append(" -> ".join(stack[stack.index(n):] + [n]))
            elif n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert cycles == [], "import cycles:\n" + "\n".join(cycles)


def test_no_private_name_crosses_a_module():
    crossing = [f"{SOURCES[m].relative_to(ROOT)}:{line} imports {n} from {t}"
                for m in SOURCES if not m.startswith("tests") for t, line, names in imports(m)
                for n in names if n.startswith("_") and not n.startswith("__") and resolve(t) != m]
    assert crossing == [], "private names imported across modules:\n" + "\n".join(crossing)


def test_ray_is_composed_only_in_cluster_and_serve():
    found = []
    for m, path in SOURCES.items():
        if m.split(".")[0] in COMPOSERS + ("tests",) + TOP:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and (node.value.id, node.attr) in RAY_COMPOSING:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module in ("ray", "ray.serve") \
                    and any(a.name in ("remote", "init", "deployment") for a in node.names):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import ...")
    assert found == [], "Ray composed outside cluster/ and serve/:\n" + "\n".join(found)


@pytest.mark.parametrize("layer", LAYERS)
def test_no_file_over_500_lines(layer):
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in sorted((ROOT / layer).rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert long == [], "files over 500 lines:\n" + "\n".join(long)


def test_the_checks_can_fail():
    """The rules above see what they must: an upward import, a cycle, a private import."""
    assert not allowed("harnesses.agent", "actors.model.server")
    assert not allowed("actors.rollout", "cluster.compose")
    assert not allowed("actors.rollout", "benchmarks.check")
    assert not allowed("benchmarks.red_team", "tests.conftest")
    assert allowed("cluster.cli", "serve.review") and allowed("serve.review", "harnesses.spec")
    assert resolve("harnesses.trace.Trace") == "harnesses.trace"
    assert any(t == "harnesses.trace" for t, _, _ in imports("harnesses.agent"))
