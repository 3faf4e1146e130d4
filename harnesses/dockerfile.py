"""What a task's Dockerfile puts where, for backends that cannot build images.

Such a backend (the local one, a pod from a stock image) places the final stage's COPY/ADD sources
from the build context and ignores RUN lines. Everything else the image would hold (files copied
`--from` another image or stage, remote ADDs, lines whose variables cannot be resolved) only an
image build gets: those lines are named in `build_only`, never guessed at. Sources of earlier build
stages are checked to exist (they are context files a build needs) but are not placed.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from pathlib import Path

import msgspec

DEFAULT_WORKDIR = "/app"
"""A stage without WORKDIR: Harbor's tasks run in /app (the base image's own WORKDIR is unknown here)."""
_GLOB = re.compile(r"[*?\[]")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")
_FLAG = re.compile(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(\S*))?$")
_HEREDOC = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


class DockerfileError(ValueError):
    """A line the parser cannot read; tasks.py turns it into a TaskError naming the Dockerfile."""

    def __init__(self, line: int, message: str):
        self.line, self.message = line, message
        super().__init__(f"line {line}: {message}")


class DockerfilePlan(msgspec.Struct, frozen=True, kw_only=True):
    """The final stage as far as placing files goes."""

    app_files: tuple[tuple[str, str], ...] = ()
    """(source relative to the build context, absolute destination), in order; inherited stages first."""
    workdir: str = DEFAULT_WORKDIR
    build_only: tuple[str, ...] = ()
    """'line N: why' for each COPY/ADD of the final stage whose files only an image build gets."""
    stages: int = 0


class _Stage:
    def __init__(self, name: str | None, workdir: str, copies: list[tuple[str, str]], build_only: list[str],
                 env: dict[str, str]):
        self.name, self.workdir, self.copies, self.build_only, self.env = name, workdir, copies, build_only, env


def logical_lines(text: str) -> list[tuple[int, str]]:
    """(first line number, instruction) with continuations joined, comments and heredoc bodies dropped."""
    raw = text.splitlines()
    escape = "\\"
    for line in raw:  # parser directives come first, before any instruction or other comment
        m = re.match(r"^\s*#\s*(\w+)\s*=\s*(\S+)\s*$", line)
        if not m:
            break
        if m.group(1).lower() == "escape" and m.group(2) in ("\\", "`"):
            escape = m.group(2)
    out: list[tuple[int, str]] = []
    parts: list[str] = []
    start = 0
    i = 0
    while i < len(raw):
        line = raw[i]
        i += 1
        stripped = line.strip()
        if stripped.startswith("#") or (parts and not stripped):
            continue  # a comment, even inside a continuation, is no part of the instruction
        if not parts:
            start = i
        body = line.rstrip()
        if body.endswith(escape):
            parts.append(body[:-1])
            continue
        parts.append(body)
        instruction = " ".join(p.strip() for p in parts).strip()
        parts = []
        if not instruction:
            continue
        if instruction.split(None, 1)[0].upper() in ("RUN", "COPY", "ADD"):
            for m in _HEREDOC.finditer(instruction):  # skip each heredoc's body, through its terminator
                end = next((j for j in range(i, len(raw)) if raw[j].strip() == m.group(3)), None)
                if end is not None:  # no terminator: `<<` was no heredoc (a shift, a quoted word)
                    i = end + 1
        out.append((start, instruction))
    if parts:
        out.append((start, " ".join(p.strip() for p in parts).strip()))
    return out


def substitute(word: str, env: dict[str, str]) -> str | None:
    """`$X`, `${X}`, `${X:-default}`, `${X:+alt}` from ARG/ENV values; None when a variable is unknown."""
    unknown = False

    def one(m: re.Match) -> str:
        nonlocal unknown
        name = m.group(1) or m.group(4)
        value = env.get(name)
        if m.group(2) == "-":
            return value if value else m.group(3)
        if m.group(2) == "+":
            return m.group(3) if value else ""
        if value is None:
            unknown = True
            return ""
        return value

    result = _VAR.sub(one, word)
    return None if unknown else result


def _assignments(rest: str, line: int, legacy_env: bool) -> list[tuple[str, str | None]]:
    """ARG's `A=1 B` or ENV's `A=1 B=2` (and the old `ENV A value with spaces`)."""
    try:
        words = shlex.split(rest)
    except ValueError as e:
        raise DockerfileError(line, f"cannot parse: {e}") from None
    if legacy_env and words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]
    return [(w.split("=", 1)[0], w.split("=", 1)[1] if "=" in w else None) for w in words]


def _copy_words(op: str, rest: str, line: int) -> tuple[dict[str, str], list[str]]:
    """The leading --flags of a COPY/ADD and its words (JSON-array or shell form)."""
    flags: dict[str, str] = {}
    while True:
        head, *tail = rest.split(None, 1)
        m = _FLAG.match(head)
        if not m:
            break
        flags[m.group(1).lower()] = m.group(2) or ""
        rest = tail[0].strip() if tail else ""
    if rest.startswith("["):
        try:
            words = json.loads(rest)
        except json.JSONDecodeError:
            words = None  # not JSON: Docker reads it as the shell form
        if isinstance(words, list) and all(isinstance(w, str) for w in words):
            return flags, words
    try:
        return flags, shlex.split(rest)
    except ValueError as e:
        raise DockerfileError(line, f"cannot parse {op}: {e}") from None


def _local_sources(sources: list[str], context: Path, line: int, op: str) -> list[str]:
    """Context-relative sources, globs expanded; DockerfileError for one that is missing or outside."""
    out: list[str] = []
    for src in sources:
        rel = posixpath.normpath(src.lstrip("/")) if src.strip("/") else "."
        keep_slash = src.endswith("/") and rel != "."
        if rel == ".." or rel.startswith("../"):
            raise DockerfileError(line, f"{op} source {src!r} is outside the build context")
        if _GLOB.search(rel):
            found = sorted(p.relative_to(context).as_posix() for p in context.glob(rel))
            if not found:
                raise DockerfileError(line, f"{op} source {src!r} matches no file in {context}")
            out += found
            continue
        if not (context / rel).exists():
            raise DockerfileError(line, f"{op} source {src!r} does not exist in {context}")
        out.append(rel + "/" if keep_slash else rel)
    return out


def plan_dockerfile(dockerfile: Path) -> DockerfilePlan:
    """Read a Dockerfile's stages; the plan of the last one. No Dockerfile: nothing to place, WORKDIR /app."""
    if not dockerfile.is_file():
        return DockerfilePlan()
    context = dockerfile.parent
    global_args: dict[str, str] = {}
    stages: list[_Stage] = []
    for line, instruction in logical_lines(dockerfile.read_text()):
        op, _, rest = instruction.partition(" ")
        op, rest = op.upper(), rest.strip()
        stage = stages[-1] if stages else None
        if op == "FROM":
            stages.append(_from(rest, line, stages, global_args))
        elif op == "ARG":
            for name, value in _assignments(rest, line, legacy_env=False):
                target = stage.env if stage else global_args
                resolved = substitute(value, target) if value is not None else None
                if resolved is not None:
                    target[name] = resolved
                elif value is None and stage is not None and name in global_args:
                    stage.env[name] = global_args[name]  # `ARG X` in a stage takes the global default
        elif stage is None:
            continue  # only ARG may come before the first FROM
        elif op == "ENV":
            for name, value in _assignments(rest, line, legacy_env=True):
                resolved = substitute(value, stage.env) if value is not None else None
                if resolved is not None:  # an unresolved value stays unknown, so its uses are named
                    stage.env[name] = resolved
        elif op == "WORKDIR":
            path = substitute(rest, stage.env)
            if path is None:
                stage.build_only.append(f"line {line}: WORKDIR {rest}: a variable this parser cannot resolve")
            else:
                stage.workdir = posixpath.normpath(posixpath.join(stage.workdir, path))
        elif op in ("COPY", "ADD"):
            _copy(op, rest, line, stage, context)
    if not stages:
        return DockerfilePlan()
    last = stages[-1]
    return DockerfilePlan(app_files=tuple(last.copies), workdir=last.workdir, build_only=tuple(last.build_only),
                          stages=len(stages))


def _from(rest: str, line: int, stages: list[_Stage], global_args: dict[str, str]) -> _Stage:
    words = [w for w in rest.split() if not w.startswith("--")]
    if not words:
        raise DockerfileError(line, "FROM needs an image")
    base = (substitute(words[0], global_args) or words[0]).lower()
    name = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
    parent = next((s for s in reversed(stages) if s.name == base), None)
    if parent is not None:  # `FROM builder`: that stage's files and WORKDIR
        return _Stage(name, parent.workdir, list(parent.copies), list(parent.build_only), dict(parent.env))
    return _Stage(name, DEFAULT_WORKDIR, [], [], {})


def _copy(op: str, rest: str, line: int, stage: _Stage, context: Path) -> None:
    flags, words = _copy_words(op, rest, line)
    if words and words[0].startswith("<<"):
        stage.build_only.append(f"line {line}: {op} of a heredoc")
        return
    if len(words) < 2:
        raise DockerfileError(line, f"{op} needs a source and a destination")
    if "from" in flags:
        stage.build_only.append(f"line {line}: {op} --from={flags['from']} {' '.join(words)}")
        return
    dest = substitute(words[-1], stage.env)
    if dest is None:
        stage.build_only.append(f"line {line}: {op} destination {words[-1]!r}: a variable this parser cannot resolve")
        return
    local: list[str] = []
    for src in words[:-1]:
        resolved = substitute(src, stage.env)
        if op == "ADD" and ("://" in src or src.startswith("git@")):
            stage.build_only.append(f"line {line}: ADD {src} (not a local file)")
        elif resolved is None:
            stage.build_only.append(f"line {line}: {op} source {src!r}: a variable this parser cannot resolve")
        else:
            local.append(resolved)
    sources = _local_sources(local, context, line, op)
    into = dest.endswith(("/", "/.")) or dest == "." or len(words) > 2 or any(_GLOB.search(s) for s in words[:-1])
    dest = posixpath.normpath(posixpath.join(stage.workdir, dest))  # relative to the stage's WORKDIR
    if into:  # a directory: several sources, a glob, or a destination that says so
        dest = dest.rstrip("/") + "/"
    stage.copies += [(s, dest) for s in sources]
