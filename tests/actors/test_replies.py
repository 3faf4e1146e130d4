"""Every reply fixture (tests/fixtures/replies, see its README) through the real parsing paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from actors.mining.labeller import parse_label
from actors.mining.mechanisms import MechanismVocabulary
from actors.proposer import check_proposals
from actors.replies import complete_items, loads_reply
from harnesses.action import ReplyError
from harnesses.agent import Episode
from harnesses.edits import EnableMiddleware, apply, summarize_edits
from harnesses.model import strip_reasoning
from harnesses.trace import Trace

REPLIES = Path(__file__).resolve().parent.parent / "fixtures" / "replies"


def fixtures(kind: str) -> list[tuple[str, str, dict]]:
    out = []
    for path in sorted((REPLIES / kind).glob("*.txt")):
        expect = path.with_name(path.stem + ".expect.json")
        out.append((path.stem, path.read_text(), json.loads(expect.read_text())))
    return out


def ids(items):
    return [name for name, _, _ in items]


def test_every_fixture_has_its_expectation_and_a_style():
    for kind in ("agent", "proposer", "labeller"):
        texts = {p.stem for p in (REPLIES / kind).glob("*.txt")}
        expects = {p.name.removesuffix(".expect.json") for p in (REPLIES / kind).glob("*.expect.json")}
        assert texts == expects and len(texts) >= 15, kind
        assert all(e["style"] and e["about"] for _, _, e in fixtures(kind))


# -- agent ---------------------------------------------------------------------------------

AGENT = fixtures("agent")


def outcome(episode: Episode, raw: str) -> dict:
    text, _ = strip_reasoning(raw)  # what a backend hands the loop
    try:
        action = episode.parse(text)
    except ReplyError as e:
        return {"error": str(e)}
    commands = [{k: v for k, v in (("keystrokes", c.keystrokes), ("tool", c.tool), ("path", c.path)) if v is not None}
                for c in action.commands]
    return {"commands": commands, "task_complete": action.task_complete}


def matches(got: dict, want: dict) -> bool:
    if "error" in want:
        return "error" in got and want["error"] in got["error"]
    return got == want


@pytest.mark.parametrize("name,raw,expect", AGENT, ids=ids(AGENT))
def test_agent_reply(name, raw, expect, word_task, minimal):
    for mode, harness in (("strict", minimal), ("repair", apply(minimal, EnableMiddleware(name="output_repair")))):
        trace = Trace(task=word_task.name, harness_id=harness.id, model="fixture", attempt=0, seed=0)
        episode = Episode(word_task, harness, None, None, trace)
        got = outcome(episode, raw)
        assert matches(got, expect[mode]), (mode, got)
        repaired = [e for e in trace.events if e.name == "output_repair"]
        # a repair is recorded only under output_repair, always when it turned a refusal into an action (and also
        # when the object it recovered then fails the schema: the recorded fenced reply with an `args` key)
        assert not repaired or mode == "repair"
        assert repaired or not (mode == "repair" and "error" not in got and "error" in expect["strict"])


# -- proposer ------------------------------------------------------------------------------

PROPOSER = fixtures("proposer")


@pytest.mark.parametrize("name,raw,expect", PROPOSER, ids=ids(PROPOSER))
def test_proposer_reply(name, raw, expect, minimal):
    def check(text):
        return check_proposals(text, minimal, round=1, k=expect["k"], rejected_before=set())

    proposals, refusals = check(strip_reasoning(raw)[0])
    assert len(proposals) == len(expect["accepted"]), [r.reason for r in refusals]
    for p, want in zip(proposals, expect["accepted"]):
        assert p.surface == want["surface"] and want["edits"] in summarize_edits(p.edits)
    assert [r.index for r in refusals] == [r["index"] for r in expect["refused"]], [r.reason for r in refusals]
    for r, want in zip(refusals, expect["refused"]):
        assert want["reason"] in r.reason, r.reason
    again = check(raw)  # the loop's reader strips reasoning itself
    assert [p.candidate_id for p in again[0]] == [p.candidate_id for p in proposals]


# -- labeller ------------------------------------------------------------------------------

LABELLER = fixtures("labeller")


@pytest.mark.parametrize("name,raw,expect", LABELLER, ids=ids(LABELLER))
def test_labeller_reply(name, raw, expect):
    label = parse_label(strip_reasoning(raw)[0])
    assert parse_label(raw) == label
    if expect["label"] is None:
        assert label is None
        return
    assert label is not None
    assert {k: getattr(label, k) for k in expect["label"]} == expect["label"]
    assert MechanismVocabulary().canonical(label.mechanism, label.description) == expect["canonical"]


# -- the reader's pieces -------------------------------------------------------------------


@pytest.mark.parametrize("raw,want", [
    ('{"a": 1}', {"a": 1}),
    ("<think>{x}</think>\n```json\n{\"a\": [1, 2,],}\n```", {"a": [1, 2]}),
    ("Use {a,b} expansion, then {\"a\": true, \"b\": null,}", {"a": True, "b": None}),
    ("{'a': \"it's\", 'b': False}", {"a": "it's", "b": False}),
    ('{"a": "true stays a word", "b": [true, false],}', {"a": "true stays a word", "b": [True, False]}),
    ('{"stages": [{"stage": 1}, {"stage": 2, "crit', None),
    ("<think>still thinking when the tokens ran out", None),
    ("", None),
])
def test_loads_reply(raw, want):
    assert loads_reply(raw) == want


def test_an_answer_beats_an_echo_of_the_input():
    assert loads_reply('{"mechanism": "x"} then {"stages": []}', want=("stages", "mechanism")) == {"stages": []}
    assert loads_reply('{"echo": 1} {"proposals": []}', want=("proposals",)) == {"proposals": []}


def test_complete_items_of_a_cut_list():
    assert complete_items('{"proposals": [{"a": 1}, {"b": "}"}, {"c": ', "proposals") == ([{"a": 1}, {"b": "}"}], True)
    assert complete_items('{"proposals": [{"a": 1}]}', "proposals") == ([{"a": 1}], False)
    assert complete_items("no list here", "proposals") == ([], False)
