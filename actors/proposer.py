"""The proposer: the same model, under the current harness, turns the mining brief into K
proposals; each is checked before anything runs.

The prompt gives the brief (clusters with raw trace excerpts), the edit schema generated
from the msgspec edit types, one worked example and the answer's exact shape. The reply is
read with repair (reasoning blocks, fences, prose, Python literals, trailing commas, an
echo before the answer; whole proposals of a reply cut by max_tokens are kept). A
proposal is refused, with the reason recorded, when it targets an unknown or read-only
surface, mixes surfaces, has edits that do not fit the schema or do not apply, changes
nothing, duplicates another proposal (of this round, or one rejected earlier), is
oversize, or brings text that names the verifier's places (`verifier_targets`).
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from actors.model.roles import PROPOSER_ROLE
from actors.records import Audit, MiningBrief, Proposal, Refusal
from actors.replies import complete_items, loads_reply
from actors.sandbox.integrity import names_verifier
from harnesses.edits import EditError, apply_all, decode_edits, edit_schema
from harnesses.model import Message, Model, ModelError, ModelRequest
from harnesses.spec import PROMPT_SECTIONS, READ_ONLY, SURFACES, HarnessSpec

MAX_PROPOSAL_CHARS = 4000
MAX_EDITS = 4

EXAMPLE_ANSWER: dict[str, Any] = {"proposals": [{
    "surface": "runtime",
    "edits": [{"op": "set_runtime", "key": "max_recent_errors", "value": 2}],
    "audit": {"target_cluster": "c0007",
              "hypothesis": "the agent repeats a failing command verbatim; after two failures in a row the "
                            "harness tells it to change approach",
              "expected_effect": "fewer turn_limit failures from repeated_failing_command on the three tasks",
              "regression_risk": "low: only episodes with two failed commands in a row see the message"}}]}
"""The worked example in the instructions; a test checks it is a valid proposal for the minimal harness."""

INSTRUCTIONS = f"""{PROPOSER_ROLE}
You improve the harness you run under, from the evidence of your own failures.
Read the brief: clusters of failures with raw trace excerpts, passing behaviour to
preserve, the harness (YAML), its editable surfaces and the history of earlier attempts.
Return {{"proposals": [...]}} with exactly K mutually distinct proposals. Each proposal
touches ONE surface with at most {MAX_EDITS} minimal edits and carries an audit record:
{{"surface": "...", "edits": [...], "audit": {{"target_cluster": "<cluster id>",
"hypothesis": "...", "expected_effect": "...", "regression_risk": "..."}}}}.
Edits follow the edit schema. Never touch: {", ".join(READ_ONLY)}. Do not repeat a
proposal that was rejected before. Prefer no proposal to a vague one: a rule must name the
failure it prevents ("Be careful" changes nothing).

Answer with one JSON object and nothing else: no code fences, no text before or after it.

Example (K=1). For a cluster c0007 of turn_limit failures on three tasks whose excerpts
show `pip install numpy -> exit 1` run again and again until the turns ran out, a good
answer is:
{json.dumps(EXAMPLE_ANSWER)}"""


def proposer_messages(harness: HarnessSpec, brief: MiningBrief) -> tuple[Message, ...]:
    user = ("BRIEF\n```json\n" + msgspec.json.encode(brief).decode() + "\n```\n\nEDIT SCHEMA\n```json\n"
            + json.dumps(edit_schema()) + f"\n```\n\nReturn K={brief.k} proposals as one JSON object "
            '{"proposals": [...]}, and nothing else.')
    return (Message("system", harness.system_prompt() + "\n\n" + INSTRUCTIONS), Message("user", user))


_AUDIT_FIELDS = tuple(f.name for f in msgspec.structs.fields(Audit))


def _audit(raw: Any) -> Audit:
    """The audit record; keys the schema does not have (a "confidence" models like to add) are dropped."""
    if isinstance(raw, dict):
        raw = {k: v for k, v in raw.items() if k in _AUDIT_FIELDS}
    try:
        return msgspec.convert(raw, Audit)
    except msgspec.ValidationError as e:
        raise ValueError(f"audit: {e}") from None


def _strings(value: Any) -> list[str]:
    """Every string inside a JSON-like value (a middleware's params, at any depth)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def harness_texts(spec: HarnessSpec) -> set[tuple[str, str]]:
    """(where, text) of every text a harness puts in front of the agent or runs in the sandbox:
    prompt text and rules, runtime strings (the instruction), middleware params, hooks, tool descriptions."""
    out: set[tuple[str, str]] = set()
    for name in PROMPT_SECTIONS:
        sec = spec.prompt.section(name)
        out |= {(f"prompt.{name}", t) for t in (sec.text, *sec.rules) if t}
    out |= {(f"runtime.{k}", v) for k, v in msgspec.structs.asdict(spec.runtime).items() if isinstance(v, str)}
    for m in spec.middleware:
        out |= {(f"middleware.{m.name}", t) for t in _strings(msgspec.to_builtins(m.typed_params()))}
    out |= {(f"hooks.{h}", v) for h, v in msgspec.structs.asdict(spec.hooks).items() if isinstance(v, str)}
    out |= {(f"tools.{t.name}", t.description) for t in spec.tools if t.description}
    return out


def verifier_targets(parent: HarnessSpec, candidate: HarnessSpec) -> dict[str, list[str]]:
    """Where the candidate brings new text that names the verifier's places (/tests, /logs, reward.txt,
    reward.json), and which: {"hooks.on_start": ["/logs", "reward.txt"]}.

    A first line only: the text is compared, not what runs, so an obfuscated path gets through. The
    guarantee is the backends' clean verification context, which records tampering, and the validator,
    which rejects any candidate with a tampering episode. Text the parent already had (or that an edit
    removes) is not counted: removing a forging hook must stay possible. Read from the harness the edits
    produce, not from the edits, so a new kind of edit is covered without a change here."""
    found: dict[str, set[str]] = {}
    for where, text in harness_texts(candidate) - harness_texts(parent):
        names = names_verifier(text)
        if names:
            found.setdefault(where, set()).update(names)
    return {where: sorted(names) for where, names in sorted(found.items())}


def _items(raw: str) -> tuple[list | None, bool]:
    """The reply's proposals and whether the reply was cut inside one; None when there is no list at all."""
    value = loads_reply(raw, want=("proposals",))
    if isinstance(value, list):
        return value, False
    if isinstance(value, dict) and isinstance(value.get("proposals"), list):
        return value["proposals"], False
    if isinstance(value, dict) and "surface" in value and "edits" in value:
        return [value], False  # one proposal, not wrapped
    items, cut = complete_items(raw, "proposals")
    return (items, cut) if items or cut else (None, False)


def check_proposals(raw: str, harness: HarnessSpec, *, round: int, k: int, rejected_before: set[str],
                    clusters: set[str] | None = None) -> tuple[list[Proposal], list[Refusal]]:
    """Turn the model's reply into valid proposals and recorded refusals. With `clusters` (the brief's ids),
    an audit must name one of them: a small model copies the worked example's c0007 into its audit."""
    items, cut = _items(raw)
    if items is None:
        return [], [Refusal(round=round, index=-1, reason="the reply is not a JSON object with a 'proposals' "
                            "list, even after repair", raw=raw[:2000])]
    proposals: list[Proposal] = []
    refusals: list[Refusal] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(items):
        def refuse(reason: str) -> None:
            refusals.append(Refusal(round=round, index=i, reason=reason, raw=json.dumps(item)[:2000]))

        if len(proposals) >= k:
            refuse(f"more than K={k} proposals")
            continue
        if not isinstance(item, dict):
            refuse("a proposal must be a JSON object")
            continue
        text = json.dumps(item)
        if len(text) > MAX_PROPOSAL_CHARS:
            refuse(f"oversize: {len(text)} characters (at most {MAX_PROPOSAL_CHARS})")
            continue
        surface = item.get("surface")
        if surface in READ_ONLY:
            refuse(f"surface {surface!r} is read-only")
            continue
        if surface not in SURFACES:
            refuse(f"unknown surface {surface!r} (editable: {', '.join(SURFACES)})")
            continue
        edits_raw = item.get("edits")
        if not isinstance(edits_raw, list) or not edits_raw:
            refuse("no edits")
            continue
        if len(edits_raw) > MAX_EDITS:
            refuse(f"{len(edits_raw)} edits: a proposal is minimal (at most {MAX_EDITS})")
            continue
        try:
            audit = _audit(item.get("audit"))
            if clusters is not None and audit.target_cluster not in clusters:
                raise ValueError(f"audit.target_cluster: {audit.target_cluster!r} is not a cluster of the brief "
                                 f"(it holds {', '.join(sorted(clusters)) or 'none'})")
            edits = decode_edits(json.dumps(edits_raw))
            if any(e.surface != surface for e in edits):
                raise EditError(f"edits touch {sorted({e.surface for e in edits})}, not only {surface!r}")
            candidate = apply_all(harness, edits)
        except (EditError, ValueError) as e:
            refuse(str(e))
            continue
        targets = verifier_targets(harness, candidate)
        if targets:
            names = sorted({n for ns in targets.values() for n in ns})
            refuse(f"targets the verifier's files ({', '.join(names)}) in {', '.join(targets)}: "
                   "a harness may not touch them")
            continue
        if candidate.id == harness.id:
            refuse("no-op: the harness would not change")
            continue
        if candidate.id in seen:
            refuse(f"duplicate of proposal {seen[candidate.id]} of this round")
            continue
        if candidate.id in rejected_before:
            refuse("duplicate of a proposal rejected in an earlier round")
            continue
        pid = f"r{round}p{len(proposals) + 1}"
        seen[candidate.id] = pid
        proposals.append(Proposal(id=pid, round=round, surface=surface, edits=edits,
                                  audit=audit, candidate_id=candidate.id))
    if cut:
        refusals.append(Refusal(round=round, index=len(items), reason="cut off: the reply ends inside this "
                                "proposal (max_tokens?)", raw=raw[-2000:]))
    return proposals, refusals


class Proposer:
    def __init__(self, model: Model, temperature: float = 0.7, max_tokens: int | None = None):
        self.model, self.temperature, self.max_tokens = model, temperature, max_tokens

    def propose(self, harness: HarnessSpec, brief: MiningBrief, *, seed: int,
                rejected_before: set[str]) -> tuple[list[Proposal], list[Refusal], str]:
        """Ask the model; never raises for what it returns."""
        request = ModelRequest(messages=proposer_messages(harness, brief), temperature=self.temperature,
                               seed=seed, conversation_id=f"proposer-r{brief.round}", max_tokens=self.max_tokens)
        try:
            raw = self.model.complete(request).text
        except ModelError as e:
            return [], [Refusal(round=brief.round, index=-1, reason=f"the model could not answer: {e}")], ""
        proposals, refusals = check_proposals(raw, harness, round=brief.round, k=brief.k,
                                              rejected_before=rejected_before,
                                              clusters={c.id for c in brief.clusters})
        return proposals, refusals, raw
