"""The simulated model without a sandbox: deterministic, reacts to prompt rules, follows its plan."""

import json

from actors.model.plan import parse_solution
from actors.model.sim import QUIRKS, SimModel, draw_episode, list_profiles, load_profile, mitigated_by_prompt
from harnesses.model import Message, ModelRequest
from tests.conftest import only


def test_profiles_load_and_echo_the_papers_models():
    names = list_profiles()
    assert {"minimax", "qwen", "glm"} <= set(names)
    for name in names:
        profile = load_profile(name)
        assert set(profile.quirks) == set(QUIRKS)


def test_unknown_profile_names_the_known_ones():
    import pytest

    with pytest.raises(ValueError, match="minimax"):
        load_profile("no-such-profile")


def test_minimal_harness_names_no_failure(minimal):
    assert mitigated_by_prompt(minimal.system_prompt()) == set()


def test_a_rule_lowers_the_rate_and_keeps_draws_paired(word_task, minimal):
    from actors.model.plan import load_plan

    plan = load_plan(word_task.solution_dir)
    profile = only("split_state", rate=0.5)
    rule = "\n- Put cd and export in the same command as the commands that need them."
    plain = [draw_episode(profile, word_task, plan, s, minimal.system_prompt()) for s in range(200)]
    ruled = [draw_episode(profile, word_task, plan, s, minimal.system_prompt() + rule) for s in range(200)]
    n_plain = sum("split_state" in d.active for d in plain)
    n_ruled = sum("split_state" in d.active for d in ruled)
    assert 70 < n_plain < 130 and n_ruled < n_plain / 2
    # coupled: a rule only ever removes the quirk from an episode, never adds it
    assert all(not ("split_state" in r.active and "split_state" not in p.active) for p, r in zip(plain, ruled))


def test_replies_are_deterministic_for_a_seed(word_task, minimal):
    model = SimModel(load_profile("minimax"), [word_task])
    msgs = (Message("system", minimal.system_prompt()), Message("user", word_task.instruction))
    a = model.complete(ModelRequest(messages=msgs, seed=7)).text
    b = model.complete(ModelRequest(messages=msgs, seed=7)).text
    assert a == b


def test_flawless_sim_follows_the_oracle_plan(word_task, minimal):
    model = SimModel(only(None), [word_task])
    msgs = [Message("system", minimal.system_prompt()), Message("user", word_task.instruction)]
    sent = []
    for _ in range(12):
        reply = json.loads(model.complete(ModelRequest(messages=tuple(msgs), seed=1)).text)
        if reply["task_complete"]:
            break
        sent += [c["keystrokes"].strip() for c in reply["commands"]]
        msgs += [Message("assistant", json.dumps(reply)), Message("user", "$ ...\n[exit 0]")]
    plan = parse_solution((word_task.solution_dir / "solve.sh").read_text())
    # one exploration command, then the first-try (which "succeeded" here), then every step
    assert sent[2:] == [s.command for s in plan.steps]


def test_unknown_task_gets_a_valid_reply():
    model = SimModel(only(None), [])
    reply = model.complete(ModelRequest(messages=(Message("user", "Do something unheard of."),)))
    assert json.loads(reply.text)["task_complete"] is True


def test_plan_annotations():
    plan = parse_solution("#!/bin/bash\n# header\n\n# sim: first-try make\ncd src\nmake\n\n"
                          "# sim: prefers xsv cat a.csv\ncat a.csv > b.csv\n")
    assert len(plan.steps) == 2
    assert plan.steps[0].first_try == "make" and plan.steps[0].sets_state
    assert plan.steps[1].preferred_tool == "xsv" and not plan.steps[1].sets_state


def test_heredoc_bodies_are_kept_whole():
    text = ("#!/bin/bash\n\ncat > /app/a.c <<'EOF'\n#include <stdio.h>\n\nint main(void) { return 0; }\nEOF\n"
            "gcc /app/a.c -o /app/a\n\n# a comment\n./a\n")
    plan = parse_solution(text)
    assert len(plan.steps) == 2
    assert plan.steps[0].lines[1] == "#include <stdio.h>" and plan.steps[0].lines[2] == ""
    assert plan.steps[0].lines[-1] == "gcc /app/a.c -o /app/a" and plan.steps[1].command == "./a"


def test_export_inside_a_heredoc_is_not_shell_state():
    plan = parse_solution("cat > /app/env.sh <<'EOF'\nexport A=1\ncd /tmp\nEOF\nchmod +x /app/env.sh\n")
    assert not plan.steps[0].sets_state
    plan = parse_solution("cd /app/src\nexport CFLAGS=-O2\nmake\n")
    assert plan.steps[0].state_lines == (0, 1) and plan.steps[0].sets_state
