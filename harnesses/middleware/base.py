"""What a middleware is: an object with hooks the agent loop calls at fixed points.

Each hook returns messages for the agent (shown as `[name] message`) or a decision;
every action is recorded as a `MiddlewareEvent` in the trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harnesses.action import Action
from harnesses.trace import MiddlewareEvent, Trace

if TYPE_CHECKING:
    from harnesses.sandbox import ExecResult, Sandbox
    from harnesses.spec import HarnessSpec
    from harnesses.tasks import Task


@dataclass
class EpisodeContext:
    """What middleware may see and touch during one episode."""

    task: "Task"
    harness: "HarnessSpec"
    sandbox: "Sandbox"
    trace: Trace
    turn: int = 0
    state: dict[str, Any] = field(default_factory=dict)

    def emit(self, name: str, kind: str, message: str = "") -> None:
        self.trace.events.append(MiddlewareEvent(turn=self.turn, name=name, kind=kind, message=message))


@dataclass
class CommandDecision:
    """What to run for a command: `run` (possibly rewritten), or None with a `message` when blocked."""

    run: str | None
    message: str = ""


class Middleware:
    """Base class: every hook does nothing."""

    name = "middleware"

    def __init__(self, params: Any):
        self.params = params

    def on_start(self, ctx: EpisodeContext) -> list[str]:
        """Messages added to the first prompt."""
        return []

    def parse_reply(self, ctx: EpisodeContext, raw: str) -> dict | None:
        """A parsed reply when strict parsing failed, or None."""
        return None

    def repair_action(self, ctx: EpisodeContext, value: dict, error: str) -> dict | None:
        """A corrected reply object when the parsed one did not match the action schema (`error`), or None."""
        return None

    def before_command(self, ctx: EpisodeContext, command: str, decision: CommandDecision) -> CommandDecision:
        return decision

    def after_command(self, ctx: EpisodeContext, command: str, result: "ExecResult") -> list[str]:
        return []

    def on_complete(self, ctx: EpisodeContext, action: Action) -> list[str]:
        """Reasons to refuse completion; empty accepts it."""
        return []

    def after_turn(self, ctx: EpisodeContext, action: Action, results: list["ExecResult"]) -> list[str]:
        return []
