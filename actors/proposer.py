"""The proposer: the same model, under the current harness, turns the mining brief into K
proposals; each is checked before anything runs.

A reply is refused, with the reason recorded, when it is not JSON even after repair,
targets an unknown or read-only surface, mixes surfaces, has edits that do not fit the
schema or do not apply, changes nothing, duplicates another proposal (of this round, or
one rejected earlier), or is oversize.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

from actors.model.base import Message, Model, ModelError, ModelRequest
from actors.model.roles import PROPOSER_ROLE
from actors.records import Audit, MiningBrief, Proposal, Refusal
from harnesses.edits import EditError, apply_all, decode_edits, edit_schema
from harnesses.middleware.output_repair import repair
from harnesses.spec import READ_ONLY, SURFACES, HarnessSpec

MAX_PROPOSAL_CHARS = 4000
MAX_EDITS = 4

INSTRUCTIONS = f"""{PROPOSER_ROLE}
You improve the harness you run under, from the evidence of your own failures.
Read the brief: clusters of failures with raw trace excerpts, passing behaviour to
preserve, the harness (YAML), its editable surfaces and the history of earlier attempts.
Return {{"proposals": [...]}} with exactly K mutually distinct proposals. Each proposal
touches ONE surface with at most {MAX_EDITS} minimal edits and carries an audit record:
{{"surface": "...", "edits": [...], "audit": {{"target_cluster": "<cluster id>",
"hypothesis": "...", "expected_effect": "...", "regression_risk": "..."}}}}.
Edits follow the edit schema. Never touch: {", ".join(READ_ONLY)}. Do not repeat a
proposal that was rejected before. Prefer no proposal to a vague one."""


def proposer_messages(harness: HarnessSpec, brief: MiningBrief) -> tuple[Message, ...]:
    user = ("BRIEF\n```json\n" + msgspec.json.encode(brief).decode() + "\n```\n\nEDIT SCHEMA\n```json\n"
            + json.dumps(edit_schema()) + f"\n```\n\nReturn K={brief.k} proposals as one JSON object.")
    return (Message("system", harness.system_prompt() + "\n\n" + INSTRUCTIONS), Message("user", user))


def _audit(raw: Any) -> Audit:
    try:
        return msgspec.convert(raw, Audit)
    except msgspec.ValidationError as e:
        raise ValueError(f"audit: {e}") from None


def check_proposals(raw: str, harness: HarnessSpec, *, round: int, k: int,
                    rejected_before: set[str]) -> tuple[list[Proposal], list[Refusal]]:
    """Turn the model's reply into valid proposals and recorded refusals."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = repair(raw)
    if isinstance(value, list):
        value = {"proposals": value}
    if not isinstance(value, dict) or not isinstance(value.get("proposals"), list):
        return [], [Refusal(round=round, index=-1, reason="the reply is not a JSON object with a 'proposals' "
                            "list, even after repair", raw=raw[:2000])]
    proposals: list[Proposal] = []
    refusals: list[Refusal] = []
    seen: dict[str, str] = {}
    for i, item in enumerate(value["proposals"]):
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
            edits = decode_edits(json.dumps(edits_raw))
            if any(e.surface != surface for e in edits):
                raise EditError(f"edits touch {sorted({e.surface for e in edits})}, not only {surface!r}")
            candidate = apply_all(harness, edits)
        except (EditError, ValueError) as e:
            refuse(str(e))
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
        proposals.append(Proposal(id=pid, round=round, surface=surface, edits=[msgspec.to_builtins(e) for e in edits],
                                  audit=audit, candidate_id=candidate.id))
    return proposals, refusals


class Proposer:
    def __init__(self, model: Model, temperature: float = 0.7):
        self.model, self.temperature = model, temperature

    def propose(self, harness: HarnessSpec, brief: MiningBrief, *, seed: int,
                rejected_before: set[str]) -> tuple[list[Proposal], list[Refusal], str]:
        """Ask the model; never raises for what it returns."""
        request = ModelRequest(messages=proposer_messages(harness, brief), temperature=self.temperature,
                               seed=seed, conversation_id=f"proposer-r{brief.round}")
        try:
            raw = self.model.complete(request).text
        except ModelError as e:
            return [], [Refusal(round=brief.round, index=-1, reason=f"the model could not answer: {e}")], ""
        proposals, refusals = check_proposals(raw, harness, round=brief.round, k=brief.k,
                                              rejected_before=rejected_before)
        return proposals, refusals, raw
