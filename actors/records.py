"""The typed records the loop passes between its stages and writes to the run directory.

Mining produces `Signature`s and `Cluster`s and a `MiningBrief`; the proposer turns a
brief into `Proposal`s (or `Refusal`s); the validator turns a candidate and its parent
into `ABResult`s and a `Decision`; the controller keeps a `RoundRecord` per round.
Every file of the run directory is one of these (actors/run_dir.py says which), written and
read with the same type.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from harnesses.edits import Edit
from harnesses.vocabulary import Criticality, Split, Stage, TerminalCause


class Signature(msgspec.Struct, frozen=True, kw_only=True):
    """Why one failed episode failed: grounded in the verifier's output and the trace."""

    terminal_cause: TerminalCause
    """What the verifier saw and how the episode ended (harnesses/vocabulary.py)."""
    criticality: Criticality
    """The paper's scale, most critical first (harnesses/vocabulary.py)."""
    mechanism: str
    """The agent behaviour behind it, snake_case: premature_completion, state_lost_between_commands, ..."""
    actionable: bool
    """Whether a harness change could plausibly remove it (False for capability limits)."""
    evidence: str = ""
    """A short quote from the verifier or the trace that grounds the label."""
    source: Literal["extractor", "model"] = "extractor"
    """Deterministic, or merged with a model-written stage label."""

    @property
    def key(self) -> str:
        return f"{self.terminal_cause}/{self.mechanism}"


class Failure(msgspec.Struct, frozen=True, kw_only=True):
    """One failed episode as the miner keeps it."""

    episode_id: str
    task: str
    round: int
    signature: Signature
    excerpt: str
    """Raw trace lines around the failure (commands, outputs, middleware messages)."""


class Cluster(msgspec.Struct, kw_only=True):
    """Failures that share a signature (merged by embedding similarity)."""

    id: str
    mechanism: str
    terminal_cause: TerminalCause
    actionable: bool
    failures: list[str]
    """Episode ids."""
    tasks: list[str]
    support: int = 0
    score: float = 0.0
    """Rank: support weighted by actionability."""
    eligible: bool = False
    """>= min failures on >= min tasks, and actionable: the proposer may target it."""
    examples: list[Failure] = []
    """Up to a few representative failures with raw excerpts, for the brief."""


class MiningReport(msgspec.Struct, kw_only=True):
    round: int
    harness_id: str
    episodes: int
    failures: int
    infra_excluded: int
    clusters: list[Cluster]


class EditHistory(msgspec.Struct, kw_only=True):
    """An earlier proposal and what became of it, for the proposer's memory."""

    round: int
    proposal_id: str
    surface: str
    summary: str
    outcome: str
    """accepted | rejected | refused | stopped | merged"""
    reason: str = ""


class MiningBrief(msgspec.Struct, kw_only=True):
    """What the proposer sees; built from `train` only."""

    round: int
    harness_id: str
    harness_yaml: str
    surfaces: list[str]
    read_only: list[str]
    clusters: list[Cluster]
    """Eligible clusters, ranked, each with raw excerpts."""
    preserve: list[str]
    """Passing behaviour to keep: tasks that pass and how."""
    history: list[EditHistory]
    k: int
    train_pass_rate: float
    tasks: list[str]
    """The train tasks the brief was built from (a test proves no other split reaches it)."""


class Audit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    target_cluster: str
    hypothesis: str
    expected_effect: str
    regression_risk: str


class Proposal(msgspec.Struct, kw_only=True):
    """One candidate change: a few edits on one surface, with its audit record."""

    id: str
    round: int
    surface: str
    edits: list[Edit]
    audit: Audit
    candidate_id: str = ""
    """The id of the harness the edits produce."""


class Refusal(msgspec.Struct, kw_only=True):
    """A proposal the system would not evaluate, and why."""

    round: int
    index: int
    reason: str
    raw: str = ""


class SplitResult(msgspec.Struct, kw_only=True):
    """A candidate against its parent on one split, paired by (task, attempt, seed)."""

    split: Split
    pairs: int
    evaluated: int
    parent_passed: int
    candidate_passed: int
    gains: int
    """Pairs the parent failed and the candidate passed."""
    losses: int
    delta: int
    """candidate passes minus parent passes, over the evaluated pairs."""
    ci_low: float = 0.0
    ci_high: float = 0.0
    """Bootstrap interval of the paired pass-rate difference."""
    p_value: float = 1.0
    """Exact two-sided sign (McNemar) test on the discordant pairs."""


class ABResult(msgspec.Struct, kw_only=True):
    proposal_id: str
    candidate_id: str
    parent_id: str
    splits: dict[str, SplitResult]
    accepted: bool
    reason: str
    stopped_early: bool = False
    """Rejected before every pair ran (racing)."""
    settled_early: bool = False
    """Accepted before every pair ran (racing)."""
    episodes: int = 0
    noise: int | None = None
    """The round's A/A noise floor (pairs the parent flipped against itself, train + val) when one was
    measured; with `acceptance.beyond_noise` the net gain had to exceed it."""


class NoiseFloor(msgspec.Struct, kw_only=True):
    """The A/A check of a round: the parent against itself on the same (task, attempt, seed) pairs. On a
    backend that honours the seed nothing flips; what flips is sampling alone, the floor a delta must beat."""

    round: int
    harness_id: str
    splits: dict[str, SplitResult]

    @property
    def flips(self) -> int:
        return sum(r.gains + r.losses for r in self.splits.values())


class Decision(msgspec.Struct, kw_only=True):
    round: int
    parent_id: str
    promoted_id: str
    """The harness the next round starts from (== parent_id when nothing was promoted)."""
    accepted: list[str]
    rejected: list[str]
    merged: list[str] = []
    reason: str = ""
    decided_by: str = "rule"
    """Who or what made the decision: 'rule' (validation alone) or the person who approved or rejected."""
    decided_at: str = ""
    approval: Literal["", "approved", "rejected", "awaiting approval", "timed out"] = ""
    """What the approval policy said: '', 'approved', 'rejected', 'awaiting approval', 'timed out'."""


class SplitScore(msgspec.Struct, kw_only=True):
    """One harness on one split: passes over episodes that were not infrastructure failures."""

    split: Split
    harness_id: str
    passed: int
    episodes: int
    infra_errors: int = 0

    @property
    def pass_rate(self) -> float:
        return self.passed / self.episodes if self.episodes else 0.0


class RoundRecord(msgspec.Struct, kw_only=True):
    round: int
    harness_id: str
    train: SplitScore
    val: SplitScore
    clusters: int = 0
    eligible_clusters: int = 0
    proposals: int = 0
    refused: int = 0
    accepted: int = 0
    promoted_id: str = ""
    episodes: int = 0
    """Episodes the run had finished by the end of this round (all stages, every round so far)."""
    stopped: str = ""
    """Why the loop stopped after this round, if it did (e.g. nothing actionable)."""


class FinalReport(msgspec.Struct, kw_only=True):
    """The sealed test split, evaluated once at the end: initial vs final harness."""

    initial_id: str
    final_id: str
    initial: SplitScore
    final: SplitScore
    paired: SplitResult
    """final vs initial, paired by (task, attempt, seed)."""


class RolloutSummary(msgspec.Struct, kw_only=True):
    episodes: int
    passed: int
    failed: int
    infra_errors: int
    pass_rate: float
    """Passed over episodes that were not infrastructure failures."""
    by_cause: dict[str, int]
    by_family: dict[str, int]
    """Episodes in which each model failure family is visible (passed or not)."""
    by_task: dict[str, list[int]]
    """Per task: [passed, episodes]."""
    duration_s: float = 0.0
    episodes_per_s: float = 0.0
    prompt_tokens: int = 0
    """Summed over every turn: a conversation is sent whole each turn, so this is what an engine without a
    prefix cache evaluates."""
    cached_tokens: int = 0
    """Of prompt_tokens, those the model's prefix cache held: prompt - cached is what it evaluated."""
    completion_tokens: int = 0
    model_retries: int = 0
    """Model calls that needed another attempt (429, 5xx, timeouts, outages): the endpoint's health."""
    infra_retries: int = 0
    """Episode runs repeated after an infrastructure failure (a lost worker or node, a sandbox, a model outage)."""
    tampered: int = 0
    """Episodes that left changes where the verifier lives (failures, never infra errors): a harness that
    games its verifier shows up here, not as a better pass rate."""


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    proposal_id: str
    verdict: Literal["approve", "reject"]
    by: str
    """Who: 'cli:<user>', 'review:<name>'; never a token."""
    at: str
    comment: str = ""


class Pending(msgspec.Struct, kw_only=True):
    """A validated winner waiting for a person."""

    round: int
    parent_id: str
    candidate_id: str
    proposals: list[str]
    surfaces: list[str]
    reason: str
    """Why it won validation."""
    since: str


class ProposalsFile(msgspec.Struct, kw_only=True):
    """rounds/<n>/proposals.json: what the proposer returned, checked."""

    proposals: list[Proposal] = []
    refusals: list[Refusal] = []
    raw: str = ""
    """The model's reply, verbatim."""


class RunState(msgspec.Struct, kw_only=True):
    """state.json: where the controller is (what `status` and the review app show while it runs)."""

    round: int = 0
    phase: Stage | Literal[""] = ""
    harness_id: str = ""
    pending: list[str] = []
    """Proposals whose winner waits for a person."""
    done: bool = False


class BatchProgress(msgspec.Struct, kw_only=True):
    """The batch a pipeline runs now (e.g. "round 2 stage 3 (parent-passed pairs, shard 1/6)"): what is done,
    queued, running, and run again after a lost worker or another infrastructure failure."""

    desc: str = ""
    total: int = 0
    done: int = 0
    passed: int = 0
    queued: int = 0
    running: int = 0
    reruns: int = 0


class CandidateTally(msgspec.Struct, kw_only=True):
    """One candidate under validation, live: its paired gains and losses so far."""

    proposal_id: str
    gains_train: int = 0
    losses_train: int = 0
    gains_val: int = 0
    losses_val: int = 0
    episodes: int = 0
    state: Literal["running", "stopped", "settled", "accepted", "rejected"] = "running"


class LiveStatus(msgspec.Struct, kw_only=True):
    """What `selfharness status` shows: from the run's controller while it is alive, else from the directory."""

    run_dir: str
    alive: bool = False
    """Answered by the live controller (else: read from the run directory)."""
    life: str = ""
    round: int = 0
    stage: str = ""
    harness_id: str = ""
    episodes_recorded: int = 0
    batch: BatchProgress | None = None
    """The batch of episodes running now, or the last one (its reruns: this life of the controller's all)."""
    workers: dict[str, int] = {}
    """Slots per node (node id prefix)."""
    candidates: list[CandidateTally] = []
    done: bool = False
    error: str | None = None


class LineageEntry(msgspec.Struct, kw_only=True):
    """One line of lineage.jsonl: a harness the run promoted (or started from), with its parent."""

    id: str
    parent: str | None
    round: int
    proposals: list[str]
    diff: str = ""


class EpisodeLine(msgspec.Struct, kw_only=True):
    """One line of episodes.jsonl: an episode recorded, so readers need not open every trace."""

    group: str
    """`<harness id>/<split>`: where its trace is."""
    episode_id: str
    passed: bool
    infra: bool
    tampered: bool = False


class Adopted(msgspec.Struct, kw_only=True):
    """rounds/<n>/adopted.json: an earlier round's winner, approved since, that round n started from."""

    candidate_id: str
    from_round: int
    proposals: list[str]
    approved_by: str
    at: str


class CalibrationTask(msgspec.Struct, kw_only=True):
    """One task of a calibration: what each harness scored on it, and whether the subset kept it."""

    task: str
    split: str
    passed: dict[str, int]
    """Per harness name: attempts passed (a harness left out of the dict was not tried: an earlier one solved it)."""
    attempts: int
    seconds: float
    """Mean wall time of its episodes."""
    kept: bool = False


class CalibrationReport(msgspec.Struct, kw_only=True):
    """`selfharness calibrate`: which tasks a model solves under some harness, and the subset chosen."""

    suite: str
    model: str
    harnesses: list[str]
    """In the config's order: the first is the one a subset's headroom is measured against."""
    max_turns: int | None
    tasks: list[CalibrationTask]
    splits: dict[str, list[str]]
    """The subset: per split, the tasks kept."""
    short: dict[str, int] = {}
    """Per split: how many fewer solvable tasks there were than wanted."""
    screen: str | None = None
    """The harness run on every task first; the others ran only on the tasks it solved."""
    difficulties: list[str] | None = None
    """Only tasks of these difficulties were tried; None: every task."""
    resplit: bool = False
    """The solved tasks of every split were dealt anew to the subset's splits."""
    fill: bool = False
    """A split short of solved tasks was filled with its own unsolved tasks, the fastest first."""
    seconds: float = 0.0
    """Wall time of this calibration call (a call that reused its episodes takes seconds)."""
    episode_seconds: float = 0.0
    """What its episodes took, whether run by this call or an earlier one into the same run directory."""


class SuiteSplits(msgspec.Struct, kw_only=True):
    """suite_splits.json: the splits a run dealt for a suite whose suite.yaml names none, kept so a resume or
    rerun in the same run directory uses the same ones whatever task folders were added since."""

    suite: str
    root: str
    """Where the suite was when the run started (informational: a resumed job may find it elsewhere)."""
    rule: str
    """How they were dealt (harnesses/splits.py RULE)."""
    splits: dict[str, list[str]]
