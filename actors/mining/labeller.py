"""Model-written failure labels (the paper's stage labelling), merged with the extractor's.

The trace is cut into stages at commands that change files; the model sees the stages
(raw lines), the verifier's output, the extractor's draft signature and the mechanism
names known so far, and labels the stages with a criticality and a snake_case mechanism.
The most critical stage becomes the label. Verifier evidence has priority: the miner
keeps the extractor's terminal cause. A reply that does not parse, or names no valid
stage, is ignored (the draft stands). The sim confirms the draft, deterministically.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from actors.model.roles import LABELLER_ROLE
from actors.records import Signature
from actors.replies import loads_reply
from harnesses.middleware.explore_budget import is_read_only
from harnesses.model import Message, Model, ModelError, ModelRequest
from harnesses.trace import Trace
from harnesses.vocabulary import CRITICALITY

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+){0,7}$")
_MAX_NAME = 60


class Label(msgspec.Struct, frozen=True, kw_only=True):
    """What the model says about the episode: its most critical stage."""

    terminal_cause: str = "unknown"
    criticality: str
    mechanism: str
    description: str = ""
    """One line: what the agent did (embedded with the name to merge synonyms)."""
    actionable: bool = True
    stage: int | None = None


def stages(trace: Trace, max_stages: int = 8) -> list[str]:
    """The trace cut at file-changing commands, each stage as raw lines."""
    out: list[list[str]] = [[]]
    for c in trace.commands:
        status = f"blocked: {c.blocked_by}" if c.blocked_by else f"exit {c.exit_code}"
        out[-1].append(f"$ {c.command[:160]} -> {status}: {c.output.strip()[-160:]}")
        if not is_read_only(c.command):
            out.append([])
    return ["\n".join(s) for s in out if s][-max_stages:]


def render_episode(task: str, stop_reason: str, verifier: str, parse_errors: int, stage_list: list[str],
                   draft: dict[str, Any]) -> str:
    """The episode as the model reads it: raw lines under headings; the draft is the only JSON block."""
    parts = [f"task: {task}\nstop reason: {stop_reason}\nunparseable replies: {parse_errors}",
             "## Verifier output (has priority)\n" + (verifier.strip() or "(none)")]
    parts += [f"## Stage {i}\n{s}" for i, s in enumerate(stage_list, 1)] or ["## Stages\n(no commands ran)"]
    parts.append("## Draft signature (deterministic extractor)\n```json\n" + json.dumps(draft) + "\n```")
    return "\n\n".join(parts)


_EXAMPLE_EPISODE = render_episode(
    "api-report", "completed",
    "FAILED test_outputs.py::test_uses_venv_packages - AssertionError: report.json was written by python "
    "3.11 system site-packages, expected the project venv (requests 2.32)\n1 failed, 2 passed in 0.41s", 0,
    ["$ ls -la /app -> exit 0: drwxr-xr-x app.py requirements.txt venv\n"
     "$ python3 -m venv /app/venv -> exit 0:",
     "$ source /app/venv/bin/activate -> exit 0:\n$ pip install -r requirements.txt -> exit 1: error: "
     "externally-managed-environment",
     "$ pip install --break-system-packages -r requirements.txt -> exit 0: Successfully installed requests-2.31.0",
     "$ python3 app.py > /app/report.json -> exit 0:"],
    {"terminal_cause": "wrong_output", "criticality": "unknown", "mechanism": "wrong_solution", "actionable": False,
     "evidence": "verifier: 1 failed, 2 passed in 0.41s", "source": "extractor"})

_EXAMPLE_ANSWER = {
    "terminal_cause": "wrong_output",
    "stages": [
        {"stage": 2, "criticality": "root_cause", "mechanism": "state_lost_between_commands",
         "description": "activated the venv in its own command; the next pip and python ran outside it"},
        {"stage": 3, "criticality": "contributor", "mechanism": "bypassed_environment_guard",
         "description": "forced a system-wide install instead of asking why the venv was not active"},
    ],
    "actionable": True,
}


def instructions(known: dict[str, str]) -> str:
    """The labeller's system prompt: the task, the scale, the names known so far, one worked example."""
    names = "\n".join(f"  {n}: {d}" for n, d in known.items()) or "  (none yet)"
    return f"""{LABELLER_ROLE}
You label why one episode of a terminal agent failed. The episode is cut into stages at
commands that change files. Read the verifier's output first: it has priority over the
trace and over the draft. Keep the draft's terminal_cause.

For each stage that mattered, give:
- criticality, one of: root_cause (this stage made the episode fail), contributor (it made
  the failure likelier or worse), non_terminal_friction (it cost turns but did not decide
  the outcome), recovered_friction (it went wrong and the agent fixed it), unknown.
- mechanism: the agent's behaviour as a snake_case name of 2 to 6 words, general enough to
  recur on other tasks (no file, task or tool names): state_lost_between_commands, not
  cd_into_build_failed. Reuse a known name (below) when it is the same behaviour; make up
  a new one only for a behaviour that is not there.
- description: one line saying what the agent did.
Then actionable: true if a harness change (a prompt rule, a middleware, a runtime limit, a
hook, a tool) could prevent the root cause; false for capability limits (wrong algorithm,
misunderstood task).

Known mechanisms:
{names}

Answer with one JSON object and nothing else (no code fences, no text before or after):
{{"terminal_cause": "...", "stages": [{{"stage": 1, "criticality": "...", "mechanism": "...",
"description": "..."}}], "actionable": true}}

Example. For this episode:
{_EXAMPLE_EPISODE}

the answer is:
{json.dumps(_EXAMPLE_ANSWER)}"""


def labeller_messages(trace: Trace, draft: Signature, known: dict[str, str] | None = None) -> tuple[Message, ...]:
    episode = render_episode(trace.task, trace.stop_reason, trace.verifier_output[-1200:],
                             sum(1 for t in trace.turns if t.parse_error), stages(trace), msgspec.to_builtins(draft))
    return Message("system", instructions(known or {})), Message("user", "EPISODE\n" + episode)


def _name(value: Any) -> str | None:
    """A mechanism name, repaired from spaces, hyphens and capitals; None when it is not a short name."""
    name = re.sub(r"[\s\-]+", "_", str(value or "").strip().strip("`'\"").lower())
    return name if 3 <= len(name) <= _MAX_NAME and _SNAKE.match(name) else None


def _criticality(value: Any) -> str | None:
    c = re.sub(r"[\s\-]+", "_", str(value or "unknown").strip().lower())
    return c if c in CRITICALITY else None


def _flag(value: Any, default: bool = True) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "false", "no"):
        return value.strip().lower() in ("true", "yes")
    return default


def parse_label(raw: str) -> Label | None:
    """The most critical valid stage of the reply (or its one flat label); None when there is none."""
    value = loads_reply(raw, want=("stages", "mechanism", "agent_mechanism"))
    if isinstance(value, list):
        value = {"stages": value}
    if not isinstance(value, dict):
        return None
    items = value.get("stages") if isinstance(value.get("stages"), list) else [value]
    best: Label | None = None
    for item in items:
        if not isinstance(item, dict):
            continue
        name = _name(item.get("mechanism", item.get("agent_mechanism")))
        crit = _criticality(item.get("criticality", value.get("criticality")))
        if name is None or crit is None:
            continue
        stage = item.get("stage")
        label = Label(terminal_cause=str(value.get("terminal_cause", item.get("terminal_cause", "unknown")))[:60],
                      criticality=crit, mechanism=name, description=str(item.get("description", ""))[:200],
                      actionable=_flag(item.get("actionable", value.get("actionable"))),
                      stage=stage if isinstance(stage, int) and not isinstance(stage, bool) else None)
        if best is None or CRITICALITY.index(crit) < CRITICALITY.index(best.criticality):
            best = label
    return best


class ModelLabeller:
    """A `StageLabeller` that asks the model."""

    def __init__(self, model: Model, seed: int = 0):
        self.model, self.seed = model, seed

    def label(self, trace: Trace, draft: Signature, known: dict[str, str] | None = None) -> Label | None:
        request = ModelRequest(messages=labeller_messages(trace, draft, known), temperature=0.0, seed=self.seed,
                               conversation_id=f"label-{trace.episode_id}")
        try:
            return parse_label(self.model.complete(request).text)
        except ModelError:
            return None


_DRAFT = re.compile(r"## Draft signature[^\n]*\n```json\n(.*?)\n```", re.DOTALL)


def sim_label(user: str) -> str:
    """The sim as labeller: it confirms the extractor's draft."""
    m = _DRAFT.search(user)
    draft = json.loads(m.group(1)) if m else {}
    return json.dumps({k: draft.get(k) for k in ("terminal_cause", "criticality", "mechanism", "actionable")})
