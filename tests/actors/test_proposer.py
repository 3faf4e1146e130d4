"""The proposer's checks: every bad proposal is refused with a recorded reason, nothing crashes."""

import json

import pytest

from actors.proposer import Proposer, check_proposals
from actors.records import MiningBrief
from harnesses.model import ModelError

GOOD = {"surface": "middleware", "edits": [{"op": "enable_middleware", "name": "artifact_check"}],
        "audit": {"target_cluster": "c0001", "hypothesis": "h", "expected_effect": "e", "regression_risk": "r"}}


def check(items, minimal, k=4, rejected=()):
    return check_proposals(json.dumps({"proposals": items}), minimal, round=1, k=k, rejected_before=set(rejected))


def test_a_good_proposal_passes(minimal):
    proposals, refusals = check([GOOD], minimal)
    assert not refusals and proposals[0].id == "r1p1" and proposals[0].candidate_id != minimal.id


@pytest.mark.parametrize("change,reason", [
    ({"surface": "verifier"}, "read-only"),
    ({"surface": "acceptance"}, "read-only"),
    ({"surface": "the_model_weights"}, "unknown surface"),
    ({"edits": []}, "no edits"),
    ({"edits": [{"op": "enable_middleware", "name": "teleport"}]}, "unknown middleware"),
    ({"edits": [{"op": "add_rule", "section": "system", "text": "x"}]}, "not only"),
    ({"edits": [{"op": "add_rule", "section": "system", "text": "y" * 5000}], "surface": "prompt.system"}, "oversize"),
    ({"edits": [{"op": "add_rule", "section": "system", "text": f"r{i}"} for i in range(6)],
      "surface": "prompt.system"}, "minimal"),
    ({"audit": {"hypothesis": "h"}}, "audit"),
    ({"edits": [{"op": "set_runtime", "key": "max_turns", "value": 30}], "surface": "runtime"}, "no-op"),
])
def test_bad_proposals_are_refused_with_a_reason(minimal, change, reason):
    proposals, refusals = check([{**GOOD, **change}], minimal)
    assert not proposals and reason in refusals[0].reason


def test_duplicates_and_earlier_rejections(minimal):
    proposals, refusals = check([GOOD, GOOD], minimal)
    assert len(proposals) == 1 and "duplicate of proposal r1p1" in refusals[0].reason
    proposals, refusals = check([GOOD], minimal, rejected={proposals[0].candidate_id})
    assert not proposals and "rejected in an earlier round" in refusals[0].reason


def test_more_than_k(minimal):
    other = {**GOOD, "edits": [{"op": "enable_middleware", "name": "loop_breaker"}]}
    proposals, refusals = check([GOOD, other], minimal, k=1)
    assert len(proposals) == 1 and "more than K=1" in refusals[0].reason


@pytest.mark.parametrize("raw", ["", "I think you should add a rule.", "<html>500</html>", "[[[", '{"proposals": 3}'])
def test_garbage_replies_are_one_refusal(minimal, raw):
    proposals, refusals = check_proposals(raw, minimal, round=2, k=4, rejected_before=set())
    assert proposals == [] and len(refusals) == 1 and "not a JSON object" in refusals[0].reason


def test_repaired_reply_is_accepted(minimal):
    raw = "Here you go:\n```json\n" + json.dumps({"proposals": [GOOD]}) + "\n```"
    proposals, refusals = check_proposals(raw, minimal, round=1, k=4, rejected_before=set())
    assert len(proposals) == 1 and not refusals


def brief(minimal):
    return MiningBrief(round=1, harness_id=minimal.id, harness_yaml="", surfaces=[], read_only=[], clusters=[],
                       preserve=[], history=[], k=2, train_pass_rate=0.0, tasks=[])


def test_model_errors_become_refusals(minimal):
    class Down:
        name = "down"

        def complete(self, request):
            raise ModelError("endpoint went away")

    proposals, refusals, raw = Proposer(Down()).propose(minimal, brief(minimal), seed=0, rejected_before=set())
    assert proposals == [] and "endpoint went away" in refusals[0].reason


def test_an_audit_naming_a_cluster_the_brief_does_not_hold_is_refused(minimal):
    """What the real 1.5B model did: it copied the worked example's c0007 into its audit."""
    from actors.records import Cluster

    class Copier:
        name = "copier"

        def complete(self, request):
            from harnesses.model import ModelReply

            copied = {**GOOD, "audit": {**GOOD["audit"], "target_cluster": "c0007"}}
            return ModelReply(text=json.dumps({"proposals": [copied, GOOD]}), model=self.name)

    b = brief(minimal)
    b.clusters = [Cluster(id=c, mechanism="premature_completion", terminal_cause="missing_artifact",
                          actionable=True, failures=["a", "b"], tasks=["t1", "t2"], support=2, eligible=True)
                  for c in ("c0001", "c0002")]
    proposals, refusals, _ = Proposer(Copier()).propose(minimal, b, seed=0, rejected_before=set())
    assert [p.audit.target_cluster for p in proposals] == ["c0001"]
    assert [r.index for r in refusals] == [0]
    assert "'c0007' is not a cluster of the brief (it holds c0001, c0002)" in refusals[0].reason


def test_sim_proposes_fixes_for_the_brief(minimal, word_task):
    from actors.model.sim import SimModel
    from actors.records import Cluster
    from tests.conftest import only

    b = brief(minimal)
    b.k = 4
    b.harness_yaml = "name: minimal"
    b.clusters = [Cluster(id="c1", mechanism="premature_completion", terminal_cause="missing_artifact",
                          actionable=True, failures=["a", "b"], tasks=["t1", "t2"], support=2, eligible=True)]
    proposals, refusals, raw = Proposer(SimModel(only(None), [word_task])).propose(minimal, b, seed=3,
                                                                                  rejected_before=set())
    assert proposals, refusals
    assert any(p.audit.target_cluster == "c1" for p in proposals)
    again = Proposer(SimModel(only(None), [word_task])).propose(minimal, b, seed=3, rejected_before=set())[2]
    assert again == raw


def test_model_labels_merge_with_the_extractor(word_task, minimal, backend):
    from actors.miner import WeaknessMiner
    from actors.mining.labeller import ModelLabeller, parse_label
    from actors.model.sim import SimModel
    from harnesses.agent import run_episode
    from tests.conftest import only, sim

    trace = run_episode(word_task, minimal, sim("premature_complete", [word_task]), backend, seed=1)
    miner = WeaknessMiner(labeller=ModelLabeller(SimModel(only(None), [word_task])))
    failure = miner.signatures([trace], round=1)[0]
    assert failure.signature.source == "model" and failure.signature.mechanism == "premature_completion"
    assert parse_label("no idea") is None and parse_label('{"mechanism": "Bad Name!"}') is None
    assert parse_label('{"mechanism": "forgot_the_file", "criticality": "root_cause"}').mechanism == "forgot_the_file"


def test_the_proposer_asks_for_its_own_reply_budget(minimal):
    """A small agent's turn budget (512 tokens in demo-real) cut the real proposer's second proposal."""
    from cluster.config import ProposerConfig, RunConfig
    from harnesses.model import ModelReply

    class Recorder:
        name = "recorder"
        seen: list = []

        def complete(self, request):
            self.seen.append(request.max_tokens)
            return ModelReply(text=json.dumps({"proposals": [GOOD]}), model=self.name)

    for budget in (None, 1536):
        Proposer(Recorder(), max_tokens=budget).propose(minimal, brief(minimal), seed=0, rejected_before=set())
    assert Recorder.seen == [None, 1536]
    assert RunConfig(proposer=ProposerConfig(max_tokens=1536)).proposer.max_tokens == 1536
    with pytest.raises(ValueError, match="max_tokens: must be at least 1"):
        ProposerConfig(max_tokens=0)
