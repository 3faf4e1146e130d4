"""The words every layer uses for what happened, defined once: splits, the loop's stages, failure
causes, mechanisms, failure families and episode ids.

The sim fails by the families, the miner names mechanisms, the rollout table counts causes, the
report and the review app show all three: each imports them from here, so they cannot drift.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = get_args(Split)
ACCEPTANCE_SPLITS: tuple[Split, ...] = ("train", "val")
"""What a candidate is accepted on; `test` is sealed until the end."""
NOISE_SEED_OFFSET = 1_000_003
"""A round's A/A check reruns the parent on each (task, attempt) with seed + this: on a backend that honours
the seed the same seed would replay the episode and show nothing, a fresh one shows what sampling alone flips."""


def noise_split(split: str) -> str:
    """Where a split's A/A reruns are kept (`traces/<harness>/<split>.aa/`): never taken for the parent's own."""
    return f"{split}.aa"

Stage = Literal["rollout", "mine", "propose", "validate", "merge", "approval", "test", "done"]
STAGES: tuple[Stage, ...] = get_args(Stage)
"""The controller's stages in order (state.json's `phase`, the `selfharness_stage` gauge, the review app)."""
ROUND_STAGES: tuple[Stage, ...] = STAGES[:6]
"""The stages of one round."""

StopReason = Literal["", "completed", "max_turns", "agent_timeout", "max_total_commands", "context_overflow",
                     "model_error", "infra_error"]
"""How an episode's agent loop ended (a trace's `stop_reason`; '' while it runs)."""

TerminalCause = Literal["turn_limit", "timeout", "command_budget", "context_overflow", "missing_artifact",
                        "wrong_output", "verifier_tampering"]
"""What ended a failed episode (a signature's first part), from its stop reason and the verifier's words."""
FailureCause = Literal["", "infra", "verifier_tampering", "parse_error", "loop", "exploration", "turn_limit",
                       "timeout", "command_budget", "context_overflow", "missing_artifact", "wrong_output"]
"""The rollout table's one word per episode: a terminal cause, refined for episodes that ran out of turns
('' for a pass, `infra` for an infrastructure error, which no statistic counts)."""
INFRA: FailureCause = "infra"
TAMPERING = "verifier_tampering"
"""Both a terminal cause and a mechanism: the episode changed what its verifier reads."""

Criticality = Literal["root_cause", "contributor", "non_terminal_friction", "recovered_friction", "unknown"]
CRITICALITY: tuple[Criticality, ...] = get_args(Criticality)
"""Most critical first (the paper's stage labels)."""


class Mechanism(NamedTuple):
    actionable: bool
    """Whether a harness change could plausibly remove it."""
    description: str
    """What it means, in the words a model's label would use (the mechanism vocabulary embeds these)."""


MECHANISMS: dict[str, Mechanism] = {
    "malformed_reply": Mechanism(True, "the reply was not one valid JSON action (code fences, prose, bad quotes), "
                                       "so the turn was lost"),
    "repeated_failing_command": Mechanism(True, "the same failing command was run again verbatim instead of "
                                                "changing approach"),
    "state_lost_between_commands": Mechanism(True, "cd, export or other shell state set in one command was lost in "
                                                   "the next command, which runs in a fresh shell"),
    "missing_tool": Mechanism(True, "a tool or program the agent relied on is not installed and it carried on "
                                    "without it"),
    "exploration_without_writes": Mechanism(True, "many turns only reading and listing files, never writing the "
                                                  "solution"),
    "premature_completion": Mechanism(True, "declared the task complete before the required output file existed or "
                                            "was checked"),
    "wrong_solution": Mechanism(False, "the outputs exist but the verifier found their content wrong"),
    "ran_out_of_time": Mechanism(False, "the episode hit its time limit while still working"),
    "context_overflow": Mechanism(True, "the conversation outgrew the model's context window (long command outputs "
                                        "or many turns kept in full), so the episode ended"),
    TAMPERING: Mechanism(False, "the agent or a hook changed the verifier's tests or reward files"),
}
DETECTED_ONLY = frozenset({TAMPERING})
"""Mechanisms only a deterministic check assigns (the backends' snapshots of the verifier's places):
a model's label never overrides them, never takes their name, and the mechanism vocabulary leaves them out."""

Family = Literal["premature_complete", "split_state", "repeat_failing", "missing_tool", "malformed_json",
                 "explore_long"]
FAMILIES: tuple[Family, ...] = get_args(Family)
"""How models fail (the sim's quirks, the patterns a trace shows whether or not the episode failed)."""
FAMILY_MECHANISM: dict[Family, str] = {
    "premature_complete": "premature_completion", "split_state": "state_lost_between_commands",
    "repeat_failing": "repeated_failing_command", "missing_tool": "missing_tool",
    "malformed_json": "malformed_reply", "explore_long": "exploration_without_writes",
}
"""The mechanism a family's failure is mined as."""


class EpisodeKey(NamedTuple):
    task: str
    harness_id: str
    attempt: int
    seed: int


def episode_id(task: str, harness_id: str, attempt: int, seed: int) -> str:
    """`<task>__<harness>__a<attempt>__s<seed>`: a trace's file name and its key in every record."""
    return f"{task}__{harness_id}__a{attempt}__s{seed}"


def parse_episode_id(value: str) -> EpisodeKey:
    """The inverse of `episode_id` (task names may hold `__`; the last three parts may not)."""
    try:
        task, harness_id, attempt, seed = value.rsplit("__", 3)
        if not (attempt[:1] == "a" and seed[:1] == "s"):
            raise ValueError
        return EpisodeKey(task, harness_id, int(attempt[1:]), int(seed[1:]))
    except ValueError:
        raise ValueError(f"not an episode id (<task>__<harness>__a<attempt>__s<seed>): {value!r}") from None
