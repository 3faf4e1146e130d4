"""The prompts a real model gets: precise formats, a worked example that parses, the harness's prompt untouched."""

from __future__ import annotations

import json
import re

import msgspec

from harnesses.vocabulary import CRITICALITY
from actors.mining.labeller import _EXAMPLE_ANSWER, labeller_messages, parse_label, sim_label, stages
from actors.mining.mechanisms import MechanismVocabulary
from actors.proposer import EXAMPLE_ANSWER, check_proposals, proposer_messages
from actors.records import MiningBrief, Signature
from harnesses.action import Action, Command, parse_strict, to_action
from harnesses.agent import first_prompt
from harnesses.edits import DisableTool, apply
from harnesses.prompts import TOOL_FORMS, worked_example
from harnesses.trace import CommandRecord, Trace

MINIMAL_SYSTEM = """You are an agent that completes tasks in a Linux terminal, working in /app.
Inspect the workspace before you act, then make concrete edits and run commands.
Verify the outcome yourself before you declare the task complete."""


def test_the_harness_prompt_stays_the_papers_minimal_one(minimal):
    assert minimal.system_prompt().startswith(MINIMAL_SYSTEM)
    assert "# How to reply" not in minimal.system_prompt()


def test_the_first_message_has_the_task_the_format_and_a_worked_example(word_task, minimal):
    text = first_prompt(word_task, minimal, ["[tool_preflight] jq is missing"])
    assert text.startswith("# Task\n" + word_task.instruction)
    assert "[tool_preflight] jq is missing" in text
    fields = [f.name for f in msgspec.structs.fields(Action)] + [f.name for f in msgspec.structs.fields(Command)]
    for name in fields:
        assert f'"{name}"' in text, name
    example = text.split("A reply from another task:\n", 1)[1]
    action = to_action(parse_strict(example))
    assert action.commands and not action.task_complete


def test_every_command_form_shown_is_one_the_loop_reads():
    for name, form in TOOL_FORMS.items():
        cmd = to_action({"commands": [form]}).commands[0]
        assert (cmd.tool or "shell") == name


def test_only_enabled_tools_are_offered_and_the_example_uses_them(word_task, minimal):
    no_shell = apply(minimal, DisableTool(name="shell"))
    text = first_prompt(word_task, no_shell, [])
    assert '"keystrokes": "ls' not in text and '"tool": "read_file"' in text
    example = worked_example(no_shell)
    assert all(c.get("tool") in ("write_file", "read_file") for c in example["commands"])


def test_the_proposer_example_is_a_valid_proposal_and_the_answer_shape_is_stated(minimal):
    proposals, refusals = check_proposals(json.dumps(EXAMPLE_ANSWER), minimal, round=1, k=1, rejected_before=set())
    assert len(proposals) == 1 and not refusals
    brief = MiningBrief(round=1, harness_id=minimal.id, harness_yaml="", surfaces=[], read_only=[], clusters=[],
                        preserve=[], history=[], k=3, train_pass_rate=0.0, tasks=[])
    system, user = proposer_messages(minimal, brief)
    assert json.dumps(EXAMPLE_ANSWER) in system.content and "no code fences" in system.content
    assert '"$defs"' in user.content or '"anyOf"' in user.content  # the generated edit schema
    assert user.content.index("BRIEF\n```json") < user.content.index("EDIT SCHEMA")  # the sim reads the first block


def labelled_trace() -> Trace:
    return Trace(task="build-it", harness_id="h", model="m", attempt=0, seed=0, stop_reason="max_turns",
                 verifier_output="FAILED test_outputs.py::test_binary - AssertionError: /app/build/app missing",
                 commands=[CommandRecord(turn=0, command="ls -la /app", exit_code=0, output="src Makefile"),
                           CommandRecord(turn=1, command="cd /app/build", exit_code=0, output=""),
                           CommandRecord(turn=1, command="make", exit_code=2, output="make: *** No targets.  Stop.")])


def test_the_labeller_prompt_has_stages_verifier_draft_scale_names_and_example():
    draft = Signature(terminal_cause="turn_limit", criticality="root_cause", mechanism="state_lost_between_commands",
                      actionable=True, evidence="`cd /app/build` ran alone")
    system, user = labeller_messages(labelled_trace(), draft, MechanismVocabulary().catalogue())
    for word in CRITICALITY:
        assert word in system.content
    assert "state_lost_between_commands: cd, export" in system.content  # known names with descriptions
    assert json.dumps(_EXAMPLE_ANSWER) in system.content
    assert "## Verifier output (has priority)\nFAILED test_outputs.py::test_binary" in user.content
    assert "## Stage 2\n$ make -> exit 2: make: *** No targets." in user.content
    # the sim, as labeller, reads the draft from the user message and confirms it
    assert json.loads(sim_label(user.content))["mechanism"] == "state_lost_between_commands"


def test_the_labeller_example_answer_parses_to_its_root_cause_stage():
    label = parse_label(json.dumps(_EXAMPLE_ANSWER))
    assert label is not None and label.criticality == "root_cause" and label.stage == 2
    assert MechanismVocabulary().canonical(label.mechanism, label.description) == "state_lost_between_commands"


def test_stages_are_cut_after_commands_that_may_change_files():
    cut = stages(labelled_trace())  # `cd` is not known to be read-only, so it ends a stage
    assert cut[0] == "$ ls -la /app -> exit 0: src Makefile\n$ cd /app/build -> exit 0: "
    assert re.match(r"\$ make -> exit 2", cut[1])
