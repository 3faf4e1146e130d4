"""The mining brief: what the proposer sees. Built from `train` traces only.

Clusters come with raw trace excerpts (a proposer given only summaries does worse:
Meta-Harness' ablation), passing behaviour to preserve, the editable surfaces and the
history of earlier proposals. Only eligible clusters are shown, and never one with
verifier tampering in it: a forged verdict is not a weakness to fit a harness edit to.
"""

from __future__ import annotations

from actors.records import Cluster, EditHistory, MiningBrief, MiningReport
from harnesses.spec import READ_ONLY, SURFACES, HarnessSpec, dumps_harness
from harnesses.trace import Trace
from harnesses.vocabulary import DETECTED_ONLY


def preserve(traces: list[Trace], limit: int = 12) -> list[str]:
    """Passing behaviour worth keeping: which tasks pass, in how many turns and commands."""
    out = []
    for t in sorted((t for t in traces if t.passed), key=lambda t: t.episode_id):
        if len(out) >= limit:
            break
        out.append(f"{t.task} (attempt {t.attempt}): passed in {len(t.turns)} turns, {len(t.commands)} commands, "
                   f"{len(t.events)} middleware events")
    return out


def targetable(cluster: Cluster) -> bool:
    """Whether the proposer may see and target a cluster: eligible, and no tampering in it."""
    return (cluster.eligible and cluster.mechanism not in DETECTED_ONLY and cluster.terminal_cause not in DETECTED_ONLY
            and not any(f.signature.mechanism in DETECTED_ONLY for f in cluster.examples))


def build_brief(*, round: int, harness: HarnessSpec, report: MiningReport, train: list[Trace],
                history: list[EditHistory], k: int) -> MiningBrief:
    if any(t.split != "train" for t in train):
        raise ValueError("the brief is built from train traces only")
    counted = [t for t in train if t.infra_error is None]
    return MiningBrief(
        round=round, harness_id=harness.id, harness_yaml=dumps_harness(harness), surfaces=list(SURFACES),
        read_only=list(READ_ONLY), clusters=[c for c in report.clusters if targetable(c)], preserve=preserve(train),
        history=history, k=k, train_pass_rate=sum(t.passed for t in counted) / len(counted) if counted else 0.0,
        tasks=sorted({t.task for t in train}))
