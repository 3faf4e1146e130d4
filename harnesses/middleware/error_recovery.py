"""After a failed command, inject the harness's recovery instruction (prompt section `recovery`).

The paper's minimal harness shows its failure-recovery instruction only after a tool
error; this middleware is that mechanism, so the recovery text is an editable surface.
"""

from __future__ import annotations

from harnesses.middleware.base import EpisodeContext, Middleware
from harnesses.sandbox import ExecResult


class ErrorRecovery(Middleware):
    name = "error_recovery"

    def after_command(self, ctx: EpisodeContext, command: str, result: ExecResult) -> list[str]:
        if result.exit_code == 0:
            return []
        count = ctx.state.get("error_recovery_count", 0)
        if count >= self.params.max_injections:
            return []
        ctx.state["error_recovery_count"] = count + 1
        text = ctx.harness.prompt.recovery.render()
        message = (text.strip() or "The last command failed. Read its error, fix the cause, and retry "
                   "the step with a corrected command; do not move on as if it had worked.")
        ctx.emit(self.name, "inject", f"after exit {result.exit_code}")
        return [message]
