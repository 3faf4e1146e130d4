"""The simulated model's knowledge of a task: the steps of its oracle `solution/solve.sh`.

A step is a block of lines separated from the next by a blank line (the header comment
block and the shebang are not steps); a heredoc's body is data, kept whole, blank lines
and `#` lines included. The sim sends one step per turn as one command.
Comment lines `# sim: ...` inside a step tell the sim how a real model goes wrong there:

- `# sim: first-try CMD`  a natural first attempt that fails here; the model tries it
  first and, on failure, moves on to the step's real lines (or repeats it, if its
  profile has the repeat quirk).
- `# sim: prefers CMD`    the variant the model writes when it does not know that CMD's
  first word (a tool) is not installed.

A step whose lines begin with `cd` or `export` can be split by a model into separate
commands; that only works when the harness keeps shell state between commands.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

_STATE_LINE = re.compile(r"^\s*(cd\s|export\s|source\s|\.\s)")
_HEREDOC = re.compile(r"<<(-?)\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)['\"]?")


class Step(msgspec.Struct, frozen=True, kw_only=True):
    """One block of solve.sh."""

    index: int
    lines: tuple[str, ...]
    """The executable lines (annotations and comments removed)."""
    first_try: str | None = None
    prefers: str | None = None
    state_lines: tuple[int, ...] = ()
    """Indices of the lines (outside heredocs) that set shell state: cd, export, source."""

    @property
    def command(self) -> str:
        return "\n".join(self.lines)

    @property
    def sets_state(self) -> bool:
        """Whether a model could split this step into state-setting and state-using commands."""
        return len(self.lines) > 1 and any(i < len(self.lines) - 1 for i in self.state_lines)

    @property
    def preferred_tool(self) -> str | None:
        return self.prefers.split()[0] if self.prefers else None


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    task: str
    steps: tuple[Step, ...]


def parse_solution(text: str, task: str = "") -> Plan:
    """Split a solve.sh into steps; annotations attach to the step they stand in."""
    blocks: list[list[tuple[str, bool]]] = [[]]  # (line, inside a heredoc body)
    heredoc: str | None = None
    for line in text.splitlines():
        if heredoc is not None:  # a heredoc body is data: blank lines and '#' lines belong to it
            blocks[-1].append((line, True))
            if line.strip() == heredoc:
                heredoc = None
            continue
        if line.strip():
            blocks[-1].append((line.rstrip(), False))
            m = _HEREDOC.search(line)
            if m and not line.lstrip().startswith("#"):
                heredoc = m.group(2)
        elif blocks[-1]:
            blocks.append([])
    steps: list[Step] = []
    for block in blocks:
        lines: list[str] = []
        state: list[int] = []
        first_try = prefers = None
        for line, data in block:
            stripped = line.strip()
            if data:
                lines.append(line)
            elif stripped.startswith("# sim:"):
                kind, _, arg = stripped[len("# sim:"):].strip().partition(" ")
                if kind == "first-try":
                    first_try = arg.strip()
                elif kind == "prefers":
                    prefers = arg.strip()
                else:
                    raise ValueError(f"solve.sh of {task or '?'}: unknown annotation '# sim: {kind}'")
            elif stripped.startswith("#") or stripped in ("set -e", "set -eu", "set -euo pipefail"):
                continue
            else:
                if _STATE_LINE.match(line):
                    state.append(len(lines))
                lines.append(line)
        if lines:
            steps.append(Step(index=len(steps), lines=tuple(lines), first_try=first_try, prefers=prefers,
                              state_lines=tuple(state)))
    return Plan(task=task, steps=tuple(steps))


def load_plan(solution_dir: Path, task: str = "") -> Plan:
    return parse_solution((solution_dir / "solve.sh").read_text(), task)
