"""After N read-only turns in a row, tell the agent to stop exploring and implement.

Some models read the workspace until the turn budget is gone.
"""

from __future__ import annotations

import re

from harnesses.action import Action
from harnesses.middleware.base import EpisodeContext, Middleware
from harnesses.sandbox import ExecResult

READ_ONLY = {"ls", "cat", "head", "tail", "find", "grep", "wc", "file", "stat", "tree", "pwd", "less",
             "more", "sort", "uniq", "cut", "du", "df", "which", "type", "command", "echo", "env", "printenv", "id", "whoami", "git"}
_WRITES = re.compile(r"(^|[^0-9&])>|>>|\btee\b|\brm\b|\bmv\b|\bcp\b|\bmkdir\b|\btouch\b|\bsed\s+-i")
_GIT_READ = {"status", "log", "show", "diff", "branch", "remote"}


def is_read_only(command: str) -> bool:
    """A command that only looks: every pipeline stage starts with a reading tool and nothing is written."""
    if not command.strip() or _WRITES.search(command):
        return False
    for part in re.split(r"\|\||&&|[|;\n]", command):
        words = part.split()
        if not words:
            continue
        if words[0] not in READ_ONLY:
            return False
        if words[0] == "git" and (len(words) < 2 or words[1] not in _GIT_READ):
            return False
    return True


class ExploreBudget(Middleware):
    name = "explore_budget"

    def after_turn(self, ctx: EpisodeContext, action: Action, results: list[ExecResult]) -> list[str]:
        commands = [c.keystrokes for c in action.commands if c.keystrokes is not None]
        tools = [c.tool for c in action.commands if c.tool is not None]
        if not commands or tools and any(t != "read_file" for t in tools) \
                or not all(is_read_only(c) for c in commands):
            ctx.state["explore_streak"] = 0
            return []
        streak = ctx.state.get("explore_streak", 0) + 1
        ctx.state["explore_streak"] = streak
        if streak < self.params.max_read_only_turns:
            return []
        ctx.state["explore_streak"] = 0
        message = (f"You have spent {streak} turns only reading the workspace. You know enough: "
                   "stop exploring and implement the solution now, step by step.")
        ctx.emit(self.name, "inject", message)
        return [message]
