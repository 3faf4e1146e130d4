"""A validated winner waiting for a person, and a later round adopting it once approved.

Out of the controller's round so that the loop reads as its stages; the policy is
`ApprovalConfig`, the verdicts come from `ApprovalStore` (actors/approvals.py).
"""

from __future__ import annotations

import time
from typing import Callable

from actors.approvals import ApprovalConfig, ApprovalStore, now
from actors.records import Adopted, Pending
from actors.run_dir import ADOPTED, CANDIDATE, DECISION, HARNESS, PENDING, RunStore
from harnesses.spec import HarnessSpec

Decided = dict[str, str]
"""The Decision's `decided_by` and `approval` fields."""


class ApprovalGate:
    def __init__(self, store: RunStore, policy: ApprovalConfig, *, set_state: Callable[..., None],
                 save_harness: Callable[[HarnessSpec, int, list[str], HarnessSpec | None], None], log=print):
        self.store, self.policy, self.approvals = store, policy, ApprovalStore(store.root)
        self.set_state, self.save_harness, self.log = set_state, save_harness, log

    def wait(self, r: int, parent: HarnessSpec, winner: HarnessSpec, used: list[str], surfaces: list[str],
             reason: str) -> tuple[HarnessSpec, str, Decided]:
        """The winner waits for a person: promoted on approval, the parent kept on rejection, on a
        timeout, or meanwhile (`while_waiting: continue`; a later round may adopt it)."""
        policy = self.policy
        pending = Pending(round=r, parent_id=parent.id, candidate_id=winner.id, proposals=used,
                          surfaces=surfaces, reason=reason, since=now())
        if not self.store.exists(PENDING, round=r):
            self.store.write(CANDIDATE, winner, round=r)
            self.store.write(PENDING, pending, round=r)
        self.set_state(phase="approval", pending=used)
        self.log(f"  {winner.id} ({', '.join(used)}) waits for approval: selfharness approve {self.store.root} "
                 f"{used[0]}")
        start = time.monotonic()
        while True:
            verdict, given = self.approvals.verdict_on(used)
            if verdict != "waiting" or policy.while_waiting == "continue":
                break
            if policy.wait_timeout_s is not None and time.monotonic() - start > policy.wait_timeout_s:
                verdict = "timed out"
                break
            time.sleep(policy.poll_s)
        self.set_state(pending=[])
        who = ", ".join(sorted({v.by for v in given})) or "approval policy"
        if verdict == "approve":
            return winner, f"{reason}; approved by {who}", dict(decided_by=who, approval="approved")
        if verdict == "reject":
            notes = "; ".join(v.comment for v in given if v.comment)
            return parent, f"{reason}; rejected by {who}" + (f": {notes}" if notes else ""), \
                dict(decided_by=who, approval="rejected")
        if verdict == "timed out":
            return parent, f"{reason}; no verdict within {policy.wait_timeout_s:g}s", \
                dict(decided_by="approval policy", approval="timed out")
        return parent, f"{reason}; awaiting approval (the run carries on from the parent)", \
            dict(decided_by="approval policy", approval="awaiting approval")

    def adopt(self, r: int, harness: HarnessSpec) -> HarnessSpec:
        """`while_waiting: continue`: a winner of an earlier round approved since is adopted now, if
        the harness it was validated against is still the current one."""
        adopted = self.store.read(ADOPTED, round=r)
        if adopted is not None:
            return self.store.read(HARNESS, harness=adopted.candidate_id)
        if self.policy.while_waiting != "continue":
            return harness
        for prev in range(r - 1, 0, -1):
            pending = self.store.read(PENDING, round=prev)
            decision = self.store.read(DECISION, round=prev)
            if pending is None or decision is None or decision.approval != "awaiting approval":
                continue
            verdict, given = self.approvals.verdict_on(pending.proposals)
            if verdict == "approve" and pending.parent_id == harness.id:
                winner = self.store.read(CANDIDATE, round=prev)
                self.save_harness(winner, r, pending.proposals, harness)
                self.store.write(ADOPTED, Adopted(candidate_id=winner.id, from_round=prev, proposals=pending.proposals,
                                                  approved_by=", ".join(sorted({v.by for v in given})), at=now()),
                                 round=r)
                self.log(f"round {r}: adopted {winner.id} from round {prev}, approved since")
                return winner
        return harness
