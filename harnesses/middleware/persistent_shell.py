"""Shell state (environment, cwd, PATH) survives between commands.

Each command still runs in a fresh process; the wrapper sources the state the previous
command left and saves its own on exit, so `cd` and `export` in one command hold in
the next, as in one interactive shell.
"""

from __future__ import annotations

import shlex

from harnesses.middleware.base import CommandDecision, EpisodeContext, Middleware


class PersistentShell(Middleware):
    name = "persistent_shell"

    def before_command(self, ctx: EpisodeContext, command: str, decision: CommandDecision) -> CommandDecision:
        if decision.run is None:
            return decision
        state = shlex.quote(self.params.state_file)
        wrapped = (
            f"[ -f {state} ] && . {state} >/dev/null 2>&1\n"
            f"trap '{{ export -p; printf \"cd %q\\n\" \"$PWD\"; }} > {state} 2>/dev/null' EXIT\n"
            f"{decision.run}"
        )
        if not ctx.state.get("persistent_shell_announced"):
            ctx.state["persistent_shell_announced"] = True
            ctx.emit(self.name, "wrap", f"commands share shell state through {self.params.state_file}")
        return CommandDecision(run=wrapped, message=decision.message)
