"""Model-written failure labels (the paper's stage labelling), merged with the extractor's.

The trace is cut into stages at commands that change files; the model sees the stages,
the verifier's output and the extractor's draft signature, and answers with a terminal
cause, a criticality and a snake_case mechanism. Verifier evidence has priority: the
miner keeps the extractor's terminal cause. A reply that does not parse is ignored (the
draft stands). The sim confirms the draft, deterministically.
"""

from __future__ import annotations

import json
import re

import msgspec

from actors.model.base import Message, Model, ModelError, ModelRequest
from actors.model.roles import LABELLER_ROLE
from actors.records import Signature
from harnesses.middleware.explore_budget import is_read_only
from harnesses.middleware.output_repair import repair
from harnesses.trace import Trace

CRITICALITY = ("root_cause", "contributor", "non_terminal_friction", "recovered_friction", "unknown")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]{2,60}$")


def stages(trace: Trace, max_stages: int = 8) -> list[str]:
    """The trace cut at file-changing commands, each stage as raw lines."""
    out: list[list[str]] = [[]]
    for c in trace.commands:
        out[-1].append(f"$ {c.command[:160]} -> exit {c.exit_code}: {c.output.strip()[-160:]}")
        if not is_read_only(c.command):
            out.append([])
    return ["\n".join(s) for s in out if s][-max_stages:]


def labeller_messages(trace: Trace, draft: Signature) -> tuple[Message, ...]:
    system = (f"{LABELLER_ROLE}\nLabel why this agent episode failed. Verifier evidence has priority over "
              f"the trace. Answer one JSON object: {{\"terminal_cause\": ..., \"criticality\": one of "
              f"{list(CRITICALITY)}, \"mechanism\": a snake_case name of the agent behaviour, \"actionable\": "
              "true if a harness change could remove it}.")
    body = {"task": trace.task, "stop_reason": trace.stop_reason, "verifier": trace.verifier_output[-800:],
            "stages": stages(trace), "draft": msgspec.to_builtins(draft)}
    return Message("system", system), Message("user", "EPISODE\n```json\n" + json.dumps(body) + "\n```")


def parse_label(raw: str) -> Signature | None:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = repair(raw)
    if not isinstance(value, dict):
        return None
    mechanism, criticality = str(value.get("mechanism", "")), str(value.get("criticality", "unknown"))
    if not _SNAKE.match(mechanism) or criticality not in CRITICALITY:
        return None
    return Signature(terminal_cause=str(value.get("terminal_cause", "unknown"))[:60], criticality=criticality,
                     mechanism=mechanism, actionable=bool(value.get("actionable", True)), source="model")


class ModelLabeller:
    """A `StageLabeller` that asks the model."""

    def __init__(self, model: Model, seed: int = 0):
        self.model, self.seed = model, seed

    def label(self, trace: Trace, draft: Signature) -> Signature | None:
        request = ModelRequest(messages=labeller_messages(trace, draft), temperature=0.0, seed=self.seed,
                               conversation_id=f"label-{trace.episode_id}")
        try:
            return parse_label(self.model.complete(request).text)
        except ModelError:
            return None


def sim_label(user: str) -> str:
    """The sim as labeller: it confirms the extractor's draft."""
    m = re.search(r"```json\n(.*?)\n```", user, re.DOTALL)
    draft = json.loads(m.group(1)).get("draft", {}) if m else {}
    return json.dumps({k: draft.get(k) for k in ("terminal_cause", "criticality", "mechanism", "actionable")})
