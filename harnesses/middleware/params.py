"""The parameters of each middleware, by name: the schema edits and harness files are checked against."""

from __future__ import annotations

import msgspec

DEFAULT_PREFLIGHT_TOOLS = (
    "python3", "pip", "gcc", "make", "git", "sqlite3", "jq", "yq", "xsv", "mlr", "datamash",
    "csvtool", "xmlstarlet", "rg", "fd", "q", "dasel", "sqlite-utils", "tomlq", "pup", "awk",
    "sed", "perl", "curl", "wget", "node", "bc", "tar", "gzip", "zip", "unzip",
)


class _Params(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class ArtifactCheckParams(_Params):
    """Before completion is accepted, every output path the instruction names must exist, non-empty."""

    extra_paths: tuple[str, ...] = ()
    max_rejections: int = 3


class PersistentShellParams(_Params):
    """Environment variables, cwd and PATH survive between commands."""

    state_file: str = "/tmp/.harness_shell_state"


class LoopBreakerParams(_Params):
    """A failing command repeated verbatim is not run again; the agent is told to change approach."""

    max_repeats: int = 1


class ToolPreflightParams(_Params):
    """At the start, tell the agent which of the tools it may want are installed."""

    tools: tuple[str, ...] = DEFAULT_PREFLIGHT_TOOLS


class OutputRepairParams(_Params):
    """Tolerant parsing of the model's JSON reply: code fences, trailing text, single quotes."""


class ExploreBudgetParams(_Params):
    """After this many read-only turns in a row, tell the agent to start implementing."""

    max_read_only_turns: int = 4


class ErrorRecoveryParams(_Params):
    """After a failed command, inject the harness's recovery instruction (prompt section `recovery`)."""

    max_injections: int = 5


MIDDLEWARE_PARAMS: dict[str, type[_Params]] = {
    "artifact_check": ArtifactCheckParams,
    "persistent_shell": PersistentShellParams,
    "loop_breaker": LoopBreakerParams,
    "tool_preflight": ToolPreflightParams,
    "output_repair": OutputRepairParams,
    "explore_budget": ExploreBudgetParams,
    "error_recovery": ErrorRecoveryParams,
}
