"""The record of one episode: everything the miner, the report and a person need later.

A trace is written as one JSON file per episode; it is the evidence behind every
signature, cluster and decision.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from harnesses.action import Action
from harnesses.vocabulary import StopReason, episode_id


class CommandRecord(msgspec.Struct, kw_only=True):
    """One command the harness ran (or refused to run) in the sandbox."""

    turn: int
    command: str
    """What ran: the model's keystrokes, or the tool call rendered as text."""
    exit_code: int | None
    """None when a middleware blocked it and it never ran."""
    output: str
    duration_s: float = 0.0
    timed_out: bool = False
    truncated: bool = False
    killed_by: str | None = None
    blocked_by: str | None = None


class MiddlewareEvent(msgspec.Struct, kw_only=True):
    """A middleware or hook acted: what it saw and what it told the agent."""

    turn: int
    name: str
    kind: str
    """e.g. 'inject', 'block', 'reject_completion', 'repair', 'wrap'."""
    message: str = ""


class Tampering(msgspec.Struct, frozen=True, kw_only=True):
    """Something the agent left where the verifier lives (`/tests`, `/logs/verifier`), or a reward
    that changed after the verifier wrote it. An episode with any is never a pass."""

    path: str
    change: str
    """'planted' (not there at the start), 'changed', 'removed', 'not_cleared' (survived the reset),
    'reward_changed' (after the verifier wrote it)."""
    detail: str = ""


class Turn(msgspec.Struct, kw_only=True):
    """One model call and what came of it."""

    index: int
    raw: str
    """The model's reply, verbatim."""
    action: Action | None = None
    """The parsed reply (analysis, plan, commands, task_complete), None if unparseable."""
    parse_error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Of prompt_tokens, those the model's prefix cache held (not evaluated again)."""
    reasoning_chars: int = 0
    model_events: list[str] = []
    """What getting this reply took: retries and their causes (HTTP 429, 500, timeouts), an oversize cut."""
    observation: str = ""
    """What the harness sent back to the model after this turn."""


class Trace(msgspec.Struct, kw_only=True):
    """One episode: one task, one harness, one model, one attempt, one seed."""

    task: str
    harness_id: str
    model: str
    attempt: int
    seed: int
    seeded: bool | None = None
    """Whether the model's backend honours the seed (a rerun draws the same replies): True for sim, vllm and
    llamacpp, False for an OpenAI-compatible endpoint, which may ignore it; None before the first reply.
    Pairing by seed only pairs where it does; the A/A check measures what is left."""
    turns: list[Turn] = []
    commands: list[CommandRecord] = []
    events: list[MiddlewareEvent] = []
    completed: bool = False
    """The agent declared completion and the harness accepted it."""
    stop_reason: StopReason = ""
    """'completed', 'max_turns', 'max_total_commands', 'agent_timeout', 'context_overflow', 'model_error',
    'infra_error'."""
    reward: float | None = None
    verifier_output: str = ""
    verifier_error: str | None = None
    infra_error: str | None = None
    """Set when the failure was the infrastructure's (sandbox, verifier crash): never the agent's."""
    tampering: list[Tampering] = []
    """What the agent did to the verifier's files (the backends' verification context finds it): such
    an episode fails as `verifier_tampering`, whatever the reward, and is never an infrastructure error."""
    duration_s: float = 0.0
    split: str = ""
    infra_retries: int = 0
    """Times the episode was run again after an infrastructure failure (a lost worker or node, a sandbox
    that did not start, a model outage) before this trace: what faults cost, never a verdict."""

    @property
    def passed(self) -> bool:
        return (self.infra_error is None and not self.tampering and self.reward is not None
                and self.reward >= 1.0)

    @property
    def episode_id(self) -> str:
        return episode_id(self.task, self.harness_id, self.attempt, self.seed)


def save_trace(trace: Trace, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{trace.episode_id}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_bytes(msgspec.json.encode(trace))
    tmp.replace(path)
    return path


def load_trace(path: Path) -> Trace:
    return msgspec.json.decode(path.read_bytes(), type=Trace)
