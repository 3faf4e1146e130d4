"""Completion is refused while an output path the instruction names is missing or empty.

Models declare success before writing the required file; this checks the filesystem,
not the model's word, and tells the agent exactly what is missing.
"""

from __future__ import annotations

import shlex

from harnesses.action import Action
from harnesses.middleware.base import EpisodeContext, Middleware
from harnesses.tasks import named_paths


class ArtifactCheck(Middleware):
    name = "artifact_check"

    def on_complete(self, ctx: EpisodeContext, action: Action) -> list[str]:
        refusals = ctx.state.setdefault("artifact_check_refusals", 0)
        if refusals >= self.params.max_rejections:
            return []
        paths = list(dict.fromkeys([*named_paths(ctx.task.instruction), *self.params.extra_paths]))
        if not paths:
            return []
        quoted = " ".join(shlex.quote(p) for p in paths)
        probe = ctx.sandbox.exec(f'for p in {quoted}; do [ -s "$p" ] || [ -d "$p" ] || echo "$p"; done',
                                 timeout_s=20)
        missing = [line for line in probe.output.splitlines() if line.strip()]
        if not missing:
            ctx.emit(self.name, "accept", f"all {len(paths)} named outputs exist")
            return []
        ctx.state["artifact_check_refusals"] = refusals + 1
        message = ("Completion refused: these required outputs are missing or empty: "
                   + ", ".join(missing) + ". Create them, then declare completion again.")
        ctx.emit(self.name, "reject_completion", message)
        return [message]
