"""A failing command repeated verbatim, with nothing done in between, is not run again; the
agent is told to change course.

Repeating a failed command is the commonest loop; running it again costs a turn and
teaches nothing. Once any command succeeds the slate is clean: re-running `make` after
fixing the Makefile is progress, not a loop.
"""

from __future__ import annotations

from harnesses.middleware.base import CommandDecision, EpisodeContext, Middleware
from harnesses.sandbox import ExecResult


class LoopBreaker(Middleware):
    name = "loop_breaker"

    def before_command(self, ctx: EpisodeContext, command: str, decision: CommandDecision) -> CommandDecision:
        failures = ctx.state.setdefault("loop_breaker_failures", {})
        count = failures.get(command.strip(), 0)
        if count < self.params.max_repeats or decision.run is None:
            return decision
        message = (f"This exact command already failed {count} time(s) and nothing has changed since; it was not "
                   "run again. Read the error, then try a different approach (another command, tool or fix).")
        ctx.emit(self.name, "block", f"{command.strip()[:200]} (failed {count}x)")
        return CommandDecision(run=None, message=message)

    def after_command(self, ctx: EpisodeContext, command: str, result: ExecResult) -> list[str]:
        failures = ctx.state.setdefault("loop_breaker_failures", {})
        if result.exit_code == 0:
            failures.clear()
        else:
            failures[command.strip()] = failures.get(command.strip(), 0) + 1
        return []
