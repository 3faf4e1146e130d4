"""The weakness miner: failures -> signatures -> embeddings -> FAISS clusters -> ranked report.

Incremental across rounds: the cluster index and the mechanism vocabulary persist, so a
failure of round 3 joins the cluster its like formed in round 1. A model-written label's
free-text mechanism is first mapped onto a known name when it means the same thing
(`mining/mechanisms.py`, FAISS over concept texts); signatures are then embedded by their
text (cause, mechanism) and clustered, so different mechanisms stay apart.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal, Protocol

import msgspec

from actors.config import Config
from actors.mining.clustering import ClusterIndex
from actors.mining.embed import make_embedder
from actors.mining.labeller import Label
from actors.mining.mechanisms import MechanismVocabulary
from actors.mining.signatures import excerpt, extract
from actors.mining.state import MinerState
from actors.records import Cluster, Failure, MiningReport, Signature
from harnesses.action import truncate_text
from harnesses.trace import Trace
from harnesses.vocabulary import DETECTED_ONLY


class MiningConfig(Config):
    """How failures become clusters."""

    embedder: Literal["hashing", "semantic"] = "hashing"
    """hashing: fast, no dependencies. semantic: all-MiniLM-L6-v2 from local files (the `semantic` extra)."""
    threshold: float = 0.9
    """Cosine similarity above which a failure joins an existing cluster."""
    min_failures: int = 2
    min_tasks: int = 2
    """A cluster the proposer may target has at least this many failures on at least this many tasks."""
    max_examples: int = 5
    """Representative failures with raw excerpts per cluster in the brief."""
    model_labels: bool | None = None
    """Also ask the model to label each failure (the paper's stage labelling), merged with the extractor's.
    None: on for real models (openai, vllm), off for the sim."""


class StageLabeller(Protocol):
    """The paper's model-written stage labels; merged with the extractor's signature."""

    def label(self, trace: Trace, draft: Signature, known: dict[str, str] | None = None) -> Label | None:
        """`known`: the mechanism names so far with their descriptions, so the model can reuse one."""
        ...


def signature_text(sig: Signature) -> str:
    return f"{sig.terminal_cause} {sig.mechanism.replace('_', ' ')} {sig.criticality}"


class WeaknessMiner:
    def __init__(self, *, embedder: str = "hashing", threshold: float = 0.9, min_failures: int = 2,
                 min_tasks: int = 2, max_examples: int = 5, labeller: StageLabeller | None = None,
                 state: MinerState | dict | None = None):
        if isinstance(state, MinerState):
            state = msgspec.to_builtins(state)
        self.embedder = make_embedder(embedder)
        self.index = ClusterIndex.from_state(state) if state else ClusterIndex(dim=self.embedder.dim,
                                                                                threshold=threshold)
        self.min_failures, self.min_tasks, self.max_examples = min_failures, min_tasks, max_examples
        self.labeller = labeller
        self.vocabulary = MechanismVocabulary.from_state((state or {}).get("mechanisms"))

    def state(self) -> MinerState:
        return msgspec.convert(self.index.to_state() | {"mechanisms": self.vocabulary.to_state()}, MinerState)

    def merge_label(self, draft: Signature, label: Label) -> Signature:
        """The draft with the model's criticality and mechanism (under its known name); the terminal cause
        and evidence stay the extractor's: verifier evidence has priority over the model's words. A draft
        a deterministic check made (tampering) stands as it is, and no label may claim that mechanism."""
        if draft.mechanism in DETECTED_ONLY or label.mechanism in DETECTED_ONLY:
            return draft
        mechanism = self.vocabulary.canonical(label.mechanism, label.description)
        evidence = draft.evidence
        if label.mechanism != draft.mechanism or label.description:  # what the model said, in its words
            said = label.mechanism if label.mechanism == mechanism else f"{label.mechanism} (as {mechanism})"
            evidence += f" | model: {said}" + (f": {label.description}" if label.description else "")
        return Signature(terminal_cause=draft.terminal_cause, criticality=label.criticality, mechanism=mechanism,
                         actionable=label.actionable, evidence=truncate_text(evidence, 400), source="model")

    def signatures(self, traces: list[Trace], round: int) -> list[Failure]:
        failures = []
        for t in traces:
            sig = extract(t)
            if sig is None:
                continue
            if self.labeller is not None and sig.mechanism not in DETECTED_ONLY:
                label = self.labeller.label(t, sig, known=self.vocabulary.catalogue())
                if label is not None:
                    sig = self.merge_label(sig, label)
            failures.append(Failure(episode_id=t.episode_id, task=t.task, round=round, signature=sig,
                                    excerpt=excerpt(t)))
        return failures

    def mine(self, traces: list[Trace], *, round: int, harness_id: str) -> MiningReport:
        failures = self.signatures(traces, round)
        ids: list[str] = []
        if failures:
            vectors = self.embedder.embed([signature_text(f.signature) for f in failures])
            ids = self.index.assign(vectors, [f.episode_id for f in failures], [f.signature.key for f in failures])
        groups: dict[str, list[Failure]] = defaultdict(list)
        for cid, f in zip(ids, failures):
            groups[cid].append(f)
        clusters = [self._cluster(cid, members) for cid, members in groups.items()]
        clusters.sort(key=lambda c: (-c.score, c.id))
        return MiningReport(round=round, harness_id=harness_id, episodes=len(traces), failures=len(failures),
                            infra_excluded=sum(1 for t in traces if t.infra_error), clusters=clusters)

    def mine_with_state(self, traces: list[Trace], *, round: int, harness_id: str) -> tuple[MiningReport, MinerState]:
        """`mine` and the state after it in one call: an actor restarted between two calls (its node lost) would
        answer `state` from its constructor's state, not the one this report was mined with."""
        report = self.mine(traces, round=round, harness_id=harness_id)
        return report, self.state()

    def _cluster(self, cid: str, members: list[Failure]) -> Cluster:
        # the cluster's label is its most common signature
        counts: dict[str, int] = defaultdict(int)
        for f in members:
            counts[f.signature.key] += 1
        top = max(members, key=lambda f: (counts[f.signature.key], f.signature.key)).signature
        tasks = sorted({f.task for f in members})
        # a cluster with a tampering failure in it is never a target, whatever its label says
        actionable = top.actionable and not any(f.signature.mechanism in DETECTED_ONLY for f in members)
        eligible = actionable and len(members) >= self.min_failures and len(tasks) >= self.min_tasks
        seen, examples = set(), []
        for f in sorted(members, key=lambda f: f.episode_id):  # one example per task first
            if f.task not in seen and len(examples) < self.max_examples:
                seen.add(f.task)
                examples.append(f)
        return Cluster(id=cid, mechanism=top.mechanism, terminal_cause=top.terminal_cause, actionable=actionable,
                       failures=[f.episode_id for f in members], tasks=tasks, support=len(members),
                       score=(len(members) + 0.5 * len(tasks)) * (1.0 if actionable else 0.1),
                       eligible=eligible, examples=examples)
