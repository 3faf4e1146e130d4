"""Middleware that really acts in an episode; each lives in its own module.

`build(harness)` turns the harness's ordered middleware list into objects the agent
loop calls; the params schema for each name is in `params.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harnesses.middleware.artifact_check import ArtifactCheck
from harnesses.middleware.base import CommandDecision, EpisodeContext, Middleware
from harnesses.middleware.error_recovery import ErrorRecovery
from harnesses.middleware.explore_budget import ExploreBudget
from harnesses.middleware.loop_breaker import LoopBreaker
from harnesses.middleware.output_repair import OutputRepair
from harnesses.middleware.params import MIDDLEWARE_PARAMS
from harnesses.middleware.persistent_shell import PersistentShell
from harnesses.middleware.tool_preflight import ToolPreflight

if TYPE_CHECKING:
    from harnesses.spec import HarnessSpec

MIDDLEWARE: dict[str, type[Middleware]] = {
    cls.name: cls
    for cls in (ArtifactCheck, PersistentShell, LoopBreaker, ToolPreflight, OutputRepair, ExploreBudget, ErrorRecovery)
}
assert set(MIDDLEWARE) == set(MIDDLEWARE_PARAMS), "every middleware needs a params schema"


def build(harness: "HarnessSpec") -> list[Middleware]:
    """The harness's middleware, in its order, with typed params."""
    return [MIDDLEWARE[m.name](m.typed_params()) for m in harness.middleware]


__all__ = ["MIDDLEWARE", "CommandDecision", "EpisodeContext", "Middleware", "build"]
