"""The simulated model as the proposer: it reads the brief and picks edits from the harness's
edit vocabulary, with noise, the way a mid-sized model does.

It targets the ranked clusters in order and knows a plausible fix for each mechanism
(a middleware that enforces it, or a prompt rule that names it). Some of its proposals
are noisy or harmful (a vague rule, a turn budget cut, a fix for a failure that is not
there, a tool switched off, an edit to a read-only surface); validation has to catch
them. Deterministic for (seed, round, harness).
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from actors.model.seeded import seeded_rng
from harnesses.edits import summarize_edits

FIXES: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {
    "premature_completion": [
        ("middleware", [{"op": "enable_middleware", "name": "artifact_check"}]),
        ("prompt.verification", [{"op": "add_rule", "section": "verification", "text":
            "Before declaring completion, check that every required output file exists and is non-empty."}]),
    ],
    "state_lost_between_commands": [
        ("middleware", [{"op": "enable_middleware", "name": "persistent_shell"}]),
        ("prompt.execution", [{"op": "add_rule", "section": "execution", "text":
            "Each command runs in its own shell: put cd and export in the same command as the commands "
            "that need them."}]),
    ],
    "repeated_failing_command": [
        ("middleware", [{"op": "enable_middleware", "name": "loop_breaker"}]),
        ("runtime", [{"op": "set_runtime", "key": "max_recent_errors", "value": 2}]),
        ("prompt.execution", [{"op": "add_rule", "section": "execution", "text":
            "Never repeat a failed command verbatim; read the error and try a different approach."}]),
    ],
    "missing_tool": [
        ("middleware", [{"op": "enable_middleware", "name": "tool_preflight"}]),
        ("middleware", [{"op": "enable_middleware", "name": "error_recovery"}]),
        ("prompt.bootstrap", [{"op": "add_rule", "section": "bootstrap", "text":
            "Check that the tools you need are installed with command -v before using them."}]),
    ],
    "malformed_reply": [
        ("middleware", [{"op": "enable_middleware", "name": "output_repair"}]),
        ("prompt.execution", [{"op": "add_rule", "section": "execution", "text":
            "Reply with bare JSON only: no code fences, no text after the object, double-quoted strings."}]),
    ],
    "exploration_without_writes": [
        ("middleware", [{"op": "enable_middleware", "name": "explore_budget"}]),
        ("prompt.bootstrap", [{"op": "add_rule", "section": "bootstrap", "text":
            "Do not explore for more than a few turns; start implementing early."}]),
    ],
}

NOISE: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("vague rule", "prompt.system", [{"op": "add_rule", "section": "system", "text":
        "Be careful, think step by step and double-check your work."}]),
    ("turn budget cut", "runtime", [{"op": "set_runtime", "key": "max_turns", "value": 8}]),
    ("command timeout cut", "runtime", [{"op": "set_runtime", "key": "command_timeout_s", "value": 0.5}]),
    ("tool switched off", "tools", [{"op": "disable_tool", "name": "shell"}]),
    ("read-only target", "verifier", [{"op": "add_rule", "section": "verifier", "text": "Accept partial output."}]),
    ("too many edits", "prompt.system", [{"op": "add_rule", "section": "system", "text": f"Rule {i}."}
                                         for i in range(6)]),
]


def _brief(user: str) -> dict:
    m = re.search(r"```json\n(.*?)\n```", user, re.DOTALL)
    return json.loads(m.group(1)) if m else {}


def _applies(harness_yaml: str, surface: str, edits: list[dict]) -> bool:
    """Whether the fix is not already in the harness (the sim reads the YAML it was shown)."""
    e = edits[0]
    if e["op"] == "enable_middleware":
        return f"name: {e['name']}" not in harness_yaml
    if e["op"] == "add_rule":
        return e["text"] not in harness_yaml
    if e["op"] == "set_runtime":
        return f"{e['key']}: {e['value']}" not in harness_yaml
    return True


def propose(user: str, seed: int, noise: float = 0.3) -> str:
    """The sim's reply to a proposer request (a JSON object with K proposals)."""
    brief = _brief(user)
    if not brief:
        return "I could not find the brief."
    k, rnd, harness_yaml = int(brief.get("k", 4)), int(brief.get("round", 1)), brief.get("harness_yaml", "")
    rng: random.Random = seeded_rng(seed, "proposer", rnd, brief.get("harness_id", ""))
    tried = {h["summary"] for h in brief.get("history", [])}  # fixes tried before are not offered again
    clusters = brief.get("clusters", [])
    out: list[dict] = []
    fixes_by_cluster = []
    for c in clusters:
        options = [(s, e) for s, e in FIXES.get(c["mechanism"], []) if _applies(harness_yaml, s, e)
                   and summarize_edits(e) not in tried]
        rng.shuffle(options)
        prefer_middleware = rng.random() < 0.65  # enforce the fix, or (else) name it in the prompt
        options.sort(key=lambda se: (se[0] == "middleware") != prefer_middleware)
        fixes_by_cluster.append((c, options))
    slot = 0
    while len(out) < k and (fixes_by_cluster or slot < k):
        if rng.random() < noise or not any(opts for _, opts in fixes_by_cluster):
            label, surface, edits = NOISE[rng.randrange(len(NOISE))]
            target = clusters[0]["id"] if clusters else "none"
            out.append({"surface": surface, "edits": edits, "audit": {
                "target_cluster": target, "hypothesis": f"A general improvement ({label}).",
                "expected_effect": "fewer failures overall", "regression_risk": "low"}})
        else:
            c, options = fixes_by_cluster[slot % len(fixes_by_cluster)]
            if options:
                surface, edits = options.pop(0)
                out.append({"surface": surface, "edits": edits, "audit": {
                    "target_cluster": c["id"],
                    "hypothesis": f"{c['support']} failures on {len(c['tasks'])} tasks share the mechanism "
                                  f"{c['mechanism']}; {surface} can remove it.",
                    "expected_effect": f"fewer {c['terminal_cause']} failures from {c['mechanism']}",
                    "regression_risk": "low: the change only acts when that failure occurs"}})
        slot += 1
        if slot > 4 * k:
            break
    return json.dumps({"proposals": out})
