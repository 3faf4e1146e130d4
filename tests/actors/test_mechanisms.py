"""Model-written mechanisms: synonyms merge into one cluster, different behaviours stay apart.

The labels below are written the way open models name failures. The first table set the
vocabulary's concept words and threshold; the second was written afterwards and never
tuned on: on it, a miss may split a mechanism into a new one, but nothing merges falsely.
"""

from __future__ import annotations

import msgspec
import pytest

from actors.miner import WeaknessMiner
from actors.mining.labeller import Label
from actors.mining.mechanisms import DESCRIPTIONS, THRESHOLD, MechanismVocabulary, similarity
from harnesses.vocabulary import DETECTED_ONLY, MECHANISMS
from harnesses.trace import CommandRecord, Trace

STATE = "state_lost_between_commands"
TUNED = [
    ("env_var_lost_between_commands", "The agent exported CC in one command; the next command ran in a new shell "
     "without it.", STATE),
    ("state_not_persisted_across_shells", "Shell state such as the working directory did not persist from one "
     "command to the next.", STATE),
    ("forgot_cd_between_commands", "Ran cd build as its own command, then make ran in /app and failed.", STATE),
    ("working_directory_not_carried_over", "Each keystroke batch starts a fresh shell, so the cd was gone.", STATE),
    ("venv_activation_lost", "Activated the virtualenv in one command and ran pytest in the next, outside it.", STATE),
    ("premature_completion", "Declared the task complete before writing the output file.", "premature_completion"),
    ("declared_done_without_output", "Set task_complete true although /app/report.txt was never created.",
     "premature_completion"),
    ("claimed_success_without_verification", "Marked the task complete without checking the required file exists.",
     "premature_completion"),
    ("assumed_tool_installed", "Used ripgrep, which is not available in the container, and never checked.",
     "missing_tool"),
    ("used_unavailable_binary", "Called a program that is absent: command not found.", "missing_tool"),
    ("retry_loop_on_failing_command", "Ran the same failing pip install five times without changing anything.",
     "repeated_failing_command"),
    ("stuck_retrying_compile", "Kept re-running gcc with the same error.", "repeated_failing_command"),
    ("endless_exploration", "Spent 25 turns listing and reading files and never wrote the solution.",
     "exploration_without_writes"),
    ("analysis_paralysis", "Only inspected the workspace; no file was ever written.", "exploration_without_writes"),
    ("invalid_json_reply", "Wrapped the JSON action in markdown fences, which the harness could not parse.",
     "malformed_reply"),
    ("malformed_action_format", "Replies had prose after the JSON object and were rejected.", "malformed_reply"),
    ("off_by_one_in_parser", "The word counts are off by one because the last line is skipped.", None),
    ("misread_output_spec", "Wrote CSV where the task asked for JSON lines.", None),
    ("hardcoded_test_values", "The script prints the example values instead of computing them.", None),
    ("wrong_sort_order", "Sorted ascending where the task asked for descending order.", None),
]
HELD_OUT = [
    ("cwd_reset_each_command", "The cd into src did not carry into the following command.", STATE),
    ("export_in_separate_call", "PATH was exported in a separate call and was empty when the build ran.", STATE),
    ("shell_state_assumed_persistent", "Assumed the shell keeps state; every command starts in /app again.", STATE),
    ("early_task_complete", "Set task_complete on the first turn before any file existed.", "premature_completion"),
    ("finished_without_artifact", "Finished although the required output was missing.", "premature_completion"),
    ("no_final_check", "Did not verify the output before declaring done.", "premature_completion"),
    ("relied_on_absent_utility", "Used bc, which is not installed; the script printed nothing.", "missing_tool"),
    ("dependency_not_checked", "Never checked that python3-numpy was available before importing it.", "missing_tool"),
    ("same_error_loop", "Looped on the same compile error four times.", "repeated_failing_command"),
    ("retried_without_change", "Retried the failing test command again and again with no change.",
     "repeated_failing_command"),
    ("over_exploration", "Kept exploring the repository for 20 turns and never implemented anything.",
     "exploration_without_writes"),
    ("too_much_reading", "Read every file twice and never started writing code.", "exploration_without_writes"),
    ("json_in_code_fence", "The action JSON was inside a ```json fence and could not be parsed.", "malformed_reply"),
    ("non_json_response", "Answered in prose instead of the JSON format.", "malformed_reply"),
    ("regex_too_greedy", "The regular expression matched across lines and merged two records.", None),
    ("integer_overflow", "Used 32-bit ints; the sum overflowed on the large input.", None),
    ("timezone_ignored", "Parsed timestamps as local time instead of UTC.", None),
]


def outcomes(table):
    """(name, expected, got) with got = the known name it maps to, or None when it becomes a new one."""
    out = []
    for name, description, expected in table:
        vocab = MechanismVocabulary()
        got = vocab.canonical(name, description)
        out.append((name, expected, got if got in MECHANISMS else None))
    return out


def test_synonyms_of_a_known_mechanism_take_its_name_and_others_do_not():
    for name, expected, got in outcomes(TUNED):
        assert got == expected, (name, expected, got)


def test_held_out_labels_never_merge_falsely_and_mostly_merge():
    results = outcomes(HELD_OUT)
    false_merges = [(n, e, g) for n, e, g in results if g is not None and g != e]
    assert not false_merges
    assert sum(g == e for _, e, g in results) / len(results) >= 0.8, results


def test_the_threshold_sits_between_synonyms_and_other_mechanisms():
    same = [similarity(n, e, d, DESCRIPTIONS[e]) for n, d, e in TUNED if e]
    other = [similarity(n, k, d, DESCRIPTIONS[k]) for n, d, e in TUNED + HELD_OUT for k in DESCRIPTIONS if k != e]
    assert max(other) < THRESHOLD - 0.05 and min(same) >= THRESHOLD, (max(other), min(same))


def test_new_mechanisms_merge_with_their_own_synonyms_and_persist():
    vocab = MechanismVocabulary()
    assert vocab.canonical("misread_output_spec", "Wrote CSV where the task asked for JSON lines.") == \
        "misread_output_spec"
    back = MechanismVocabulary.from_state(msgspec.json.decode(msgspec.json.encode(vocab.to_state())))
    assert back.canonical("misread_the_output_spec", "Wrote CSV although the spec asked for JSON.") == \
        "misread_output_spec"
    assert back.canonical("wrong_sort_order", "Sorted ascending where the task asked for descending.") == \
        "wrong_sort_order"
    assert "misread_the_output_spec" in back.to_state()["entries"][-2]["aliases"]


# -- through the miner: FAISS clusters -----------------------------------------------------


class Scripted:
    """A labeller that answers from a table, by episode."""

    def __init__(self, labels: dict[str, Label]):
        self.labels = labels
        self.known: list[dict] = []

    def label(self, trace, draft, known=None):
        self.known.append(dict(known or {}))
        return self.labels.get(trace.episode_id)


def failed(task: str, attempt: int, verifier: str = "FAILED test_outputs.py::test_values - AssertionError") -> Trace:
    return Trace(task=task, harness_id="h", model="m", attempt=attempt, seed=attempt, split="train",
                 commands=[CommandRecord(turn=0, command="make", exit_code=0, output="")], completed=True,
                 stop_reason="completed", reward=0.0, verifier_output=verifier)


def label(mechanism: str, description: str, criticality: str = "root_cause", cause: str = "model_says") -> Label:
    return Label(terminal_cause=cause, criticality=criticality, mechanism=mechanism, description=description)


def test_the_miner_clusters_free_text_synonyms_together_and_keeps_others_apart():
    traces = [failed(t, a) for t in ("t1", "t2", "t3") for a in (0, 1)] + [failed("t4", 0), failed("t5", 0),
                                                                              failed("t4", 1), failed("t5", 1)]
    said = [TUNED[0], TUNED[1], TUNED[2], TUNED[0], TUNED[1], TUNED[2],
            TUNED[5], TUNED[6], TUNED[8], TUNED[9]]
    labeller = Scripted({t.episode_id: label(n, d) for t, (n, d, _) in zip(traces, said)})
    miner = WeaknessMiner(labeller=labeller)
    report = miner.mine(traces, round=1, harness_id="h")
    by_mech = {c.mechanism: c for c in report.clusters}
    assert set(by_mech) == {STATE, "premature_completion", "missing_tool"}
    state = by_mech[STATE]
    assert state.support == 6 and state.tasks == ["t1", "t2", "t3"] and state.eligible
    assert by_mech["premature_completion"].support == 2 and by_mech["missing_tool"].support == 2
    # verifier evidence has priority: the extractor's terminal cause stands, the model's words go to the evidence
    example = state.examples[0].signature
    assert example.terminal_cause == "wrong_output" and example.source == "model"
    assert "(as state_lost_between_commands)" in example.evidence
    assert STATE in labeller.known[0]  # the model is shown the known names


def test_a_name_learned_in_round_one_catches_its_synonym_after_a_resume():
    first = [failed("t1", 0), failed("t2", 0)]
    miner = WeaknessMiner(labeller=Scripted({first[0].episode_id: label("misread_output_spec", "Wrote CSV, not JSON."),
                                             first[1].episode_id: label("misread_output_spec", "Wrote CSV.")}))
    r1 = miner.mine(first, round=1, harness_id="h")
    state = msgspec.json.decode(msgspec.json.encode(miner.state()))
    second = [failed("t3", 0)]
    resumed = WeaknessMiner(state=state, labeller=Scripted({second[0].episode_id: label(
        "misread_the_output_spec", "Wrote CSV although the output spec asked for JSON.")}))
    r2 = resumed.mine(second, round=2, harness_id="h")
    assert r2.clusters[0].id == r1.clusters[0].id and r2.clusters[0].mechanism == "misread_output_spec"
    assert "misread_output_spec" in resumed.vocabulary.catalogue()


@pytest.mark.parametrize("state", [None, {}])
def test_an_old_miner_state_without_mechanisms_still_loads(state):
    miner = WeaknessMiner()
    old = miner.index.to_state()  # a run from before the vocabulary
    nameable = [m for m in MECHANISMS if m not in DETECTED_ONLY]  # a model never names tampering
    assert WeaknessMiner(state=old).vocabulary.names() == nameable
    assert MechanismVocabulary.from_state(state).names() == nameable
