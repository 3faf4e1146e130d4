"""Tell the agent, before it starts, which tools it may want are installed and which are not.

A model that assumes a tool exists loses turns (or the task) to `command not found`.
"""

from __future__ import annotations

import shlex

from harnesses.middleware.base import EpisodeContext, Middleware


class ToolPreflight(Middleware):
    name = "tool_preflight"

    def on_start(self, ctx: EpisodeContext) -> list[str]:
        tools = list(self.params.tools)
        probe = ctx.sandbox.exec(
            "for t in " + " ".join(shlex.quote(t) for t in tools) + "; do command -v \"$t\" >/dev/null && echo \"$t\"; done",
            timeout_s=20)
        installed = set(probe.output.split())
        have = [t for t in tools if t in installed]
        missing = [t for t in tools if t not in installed]
        message = f"Installed: {', '.join(have) or 'none'}. NOT installed: {', '.join(missing) or 'none'}."
        ctx.emit(self.name, "inject", message)
        return [message]
