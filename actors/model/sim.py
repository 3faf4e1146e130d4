"""The simulated model: the embedded default where no GPU or endpoint is at hand.

It is a model whose choices are scripted and whose world is real. As the agent it knows
each task's oracle plan (the steps of `solution/solve.sh`, see `plan.py`) and fails the
way real models fail, as a quirk profile (`profiles/NAME.yaml`) says. It reacts to the
harness only through what a model sees: the system prompt (a rule that names a failure
lowers its rate) and the observations (middleware messages, exit codes). A middleware
that enforces a fix removes the failure through the real mechanism: the command really
runs in a persistent shell, the completion really is refused, the repeat really is
blocked.

It keeps no state between calls: each reply is a pure function of the conversation and
the seed, found by replaying its own policy over the turns so far. So any replica can
answer any turn, and a run is deterministic for a seed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import msgspec
import yaml

from actors.model import sim_proposer
from actors.model.plan import Plan, Step, load_plan
from actors.model.roles import LABELLER_ROLE, PROPOSER_ROLE
from actors.model.seeded import seeded_rng
from harnesses.action import PARSE_ERROR
from harnesses.model import ModelReply, ModelRequest, count_tokens, episode_seed
from harnesses.tasks import Task, named_paths
from harnesses.vocabulary import FAMILIES

PROFILES_DIR = Path(__file__).parent / "profiles"

QUIRKS = FAMILIES
"""The sim fails by the failure families (harnesses/vocabulary.py)."""

# What a rule in the system prompt must say for the sim to take it to heart, by quirk.
RULE_PATTERNS: dict[str, str] = {
    "premature_complete": r"(required|expected|named) (output|artifact|file)s?\b.{0,120}\b(exists?|first|early)\b"
                          r"|(output|artifact|file)s?\b.{0,60}\b(exists?|present)\b.{0,80}before.{0,40}(complet|done|finish)"
                          r"|write (a first version of )?the (required )?(output|artifact)",
    "split_state": r"(cd|export|environment variables?|shell state|working directory|PATH)\b.{0,120}"
                   r"\b(same command|one command|single command|persist|fresh shell|not kept|lost|&&)",
    "repeat_failing": r"(never|don'?t|do not|avoid) (repeat|re-?run|retry)\b.{0,80}\b(fail|same|verbatim|identical)"
                      r"|fail\w*.{0,40}command.{0,80}(verbatim|different approach|change approach)",
    "missing_tool": r"(check|verify|confirm)\w*.{0,80}\b(tools?|commands?|dependenc\w*|programs?)\b.{0,60}"
                    r"(installed|available|exist)|command -v",
    "malformed_json": r"(bare|raw|plain|only|single|valid) json|no (markdown|code)? ?fences?|without (markdown|code "
                      r"fences?|backticks)|double[- ]quoted",
    "explore_long": r"(stop|limit|don'?t|do not|avoid|cap)\b.{0,40}\bexplor|(start|begin|move to|switch to) "
                    r"implement\w*.{0,60}(early|soon|quickly|after)",
}


class Quirk(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    rate: float = 0.0
    """Chance per episode that the model shows this failure where the task lets it bite."""
    rule_factor: float = 0.3
    """The rate is multiplied by this when the system prompt has a rule that names the failure."""


class Profile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    echoes: str = ""
    description: str = ""
    quirks: dict[str, Quirk] = {}
    explore_turns: tuple[int, int] = (20, 30)
    """How many read-only turns the model spends when its explore_long quirk is active."""
    capability: dict[str, float] = {}
    """Chance, by task difficulty, that the model does not know the solution (no harness fixes it)."""
    proposer_noise: float = 0.3
    """As the proposer: the share of proposals that are noisy or harmful."""

    def __post_init__(self) -> None:
        unknown = set(self.quirks) - set(QUIRKS)
        if unknown:
            raise ValueError(f"quirks: unknown {sorted(unknown)} (known: {', '.join(QUIRKS)})")
        for name, q in self.quirks.items():
            if not 0 <= q.rate <= 1 or not 0 <= q.rule_factor <= 1:
                raise ValueError(f"quirks.{name}: rate and rule_factor must be in [0, 1]")
        lo, hi = self.explore_turns
        if not 1 <= lo <= hi:
            raise ValueError(f"explore_turns: expected 1 <= low <= high, got {self.explore_turns}")


def list_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def load_profile(name_or_path: str) -> Profile:
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILES_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ValueError(f"{path}: no such sim profile (known: {', '.join(list_profiles())})")
    try:
        return msgspec.convert(yaml.safe_load(path.read_text()), Profile)
    except (msgspec.ValidationError, ValueError, yaml.YAMLError) as e:
        raise ValueError(f"{path}: {e}") from None


def mitigated_by_prompt(system_prompt: str) -> set[str]:
    """The quirks whose failure the system prompt names in a rule."""
    return {q for q, pattern in RULE_PATTERNS.items() if re.search(pattern, system_prompt, re.IGNORECASE | re.DOTALL)}


@dataclass(frozen=True)
class EpisodeDraws:
    """What the model is like in this episode: fixed by (seed, task, profile) before anything happens.

    The uniform draws are taken whether or not a quirk can bite, so a harness change only
    moves thresholds, never the draws: paired comparisons stay paired.
    """

    active: frozenset[str]
    capable: bool
    explore_turns: int
    drift_start: int
    drift_style: str


def draw_episode(profile: Profile, task: Task, plan: Plan, seed: int, system_prompt: str) -> EpisodeDraws:
    rng = seeded_rng(seed, task.name, profile.name)
    uniforms = {q: rng.random() for q in QUIRKS}
    u_cap = rng.random()
    explore_turns = rng.randint(*profile.explore_turns)
    drift_start = rng.randint(0, 2)
    drift_style = rng.choice(["fence", "trailing", "python"])
    named = mitigated_by_prompt(system_prompt)
    bites = {
        "repeat_failing": any(s.first_try for s in plan.steps),
        "missing_tool": any(s.prefers for s in plan.steps),
        "split_state": any(s.sets_state for s in plan.steps),
    }
    active = set()
    for q in QUIRKS:
        quirk = profile.quirks.get(q, Quirk())
        rate = quirk.rate * (quirk.rule_factor if q in named else 1.0)
        if bites.get(q, True) and uniforms[q] < rate:
            active.add(q)
    capable = u_cap >= profile.capability.get(task.difficulty, 0.0)
    return EpisodeDraws(frozenset(active), capable, explore_turns, drift_start, drift_style)


@dataclass(frozen=True)
class Intent:
    """What the model means to do this turn."""

    kind: str  # explore | first_try | prefers | real | draft | complete
    commands: tuple[str, ...] = ()
    complete: bool = False
    analysis: str = ""
    plan: str = ""


@dataclass(frozen=True)
class SimState:
    phase: str = "explore"
    explored: int = 0
    step: int = 0
    attempt: str = ""  # first_try | prefers | real, for the current step ("" = choose)
    real_retries: int = 0
    stop_repeating: bool = False
    refused: int = 0
    knows_missing: frozenset[str] = field(default_factory=frozenset)


_EXIT = re.compile(r"^\[exit (-?\d+)\]$", re.MULTILINE)
_TAG = re.compile(r"^\[([a-z_ :]+)\] ?(.*)$", re.MULTILINE)
_NOT_INSTALLED = re.compile(r"NOT installed: ([^\n.]*)")


def _tags(observation: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in _TAG.finditer(observation)}


def _all_ok(observation: str) -> bool:
    codes = [int(c) for c in _EXIT.findall(observation)]
    return bool(codes) and all(c == 0 for c in codes) and "[loop_breaker]" not in observation


def split_commands(step: Step) -> tuple[str, ...]:
    """How a model that separates state from its use sends a step: each cd/export alone, the rest joined."""
    parts: list[str] = []
    run: list[str] = []
    for i, line in enumerate(step.lines):
        if i in step.state_lines:
            if run:
                parts.append("\n".join(run))
                run = []
            parts.append(line.strip())
        else:
            run.append(line)
    if run:
        parts.append("\n".join(run))
    return tuple(parts)


class SimAgentPolicy:
    """The sim's behaviour as the agent in one episode (replayed each call)."""

    def __init__(self, profile: Profile, task: Task, plan: Plan, draws: EpisodeDraws):
        self.profile, self.task, self.plan, self.draws = profile, task, plan, draws
        self.explore_target = draws.explore_turns if "explore_long" in draws.active else 1
        self._explore_cmds = self._exploration_commands()

    def _exploration_commands(self) -> list[str]:
        cmds = ["ls -la /app", "find /app -maxdepth 3 -type f | head -n 50"]
        env_app = Path(self.task.path) / "environment" / "app"
        files = sorted(p.relative_to(env_app) for p in env_app.rglob("*") if p.is_file()) if env_app.is_dir() else []
        for f in files[:12]:
            cmds += [f"head -n 40 /app/{f}", f"wc -l /app/{f}"]
        cmds += ["pwd", "ls -la /app/..", "cat /etc/os-release", "ls -la /tmp"]
        return cmds

    def initial_attempt(self, step: Step, state: SimState) -> str:
        if step.first_try:
            return "first_try"
        if step.prefers and "missing_tool" in self.draws.active and step.preferred_tool not in state.knows_missing:
            return "prefers"
        return "real"

    def intent(self, state: SimState) -> Intent:
        steps = self.plan.steps
        if state.phase == "explore":
            cmd = self._explore_cmds[state.explored % len(self._explore_cmds)]
            return Intent("explore", (cmd,), analysis="Looking around the workspace before changing anything.",
                          plan="Inspect the files in /app.")
        if not self.draws.capable:
            outputs = [p for p in named_paths(self.task.instruction) if p.startswith("/app/")]
            cmd = "; ".join(f"[ -e {p} ] || echo draft > {p}" for p in outputs) or "true"
            return Intent("draft", (cmd,), complete=True, analysis="I believe a first draft of the output is enough.",
                          plan="Write the outputs and finish.")
        premature = ("premature_complete" in self.draws.active and state.refused == 0
                     and state.step == len(steps) - 1)
        if state.step >= len(steps) or premature:
            return Intent("complete", (), complete=True, analysis="The work is done.",
                          plan="Declare the task complete.")
        step = steps[state.step]
        attempt = state.attempt or self.initial_attempt(step, state)
        label = f"Step {state.step + 1} of {len(steps)}."
        if attempt == "first_try":
            return Intent("first_try", (step.first_try,), analysis=label, plan=f"{label} Try the direct way.")
        if attempt == "prefers":
            return Intent("prefers", (step.prefers,), analysis=label, plan=f"{label} Use {step.preferred_tool}.")
        commands = split_commands(step) if "split_state" in self.draws.active and step.sets_state else (step.command,)
        return Intent("real", commands, analysis=label, plan=f"{label} Run it.")

    def transition(self, state: SimState, intent: Intent, observation: str) -> SimState:
        if PARSE_ERROR in observation:
            return state  # nothing ran; the model tries again
        tags = _tags(observation)
        ok = _all_ok(observation)
        steps = self.plan.steps
        if intent.kind == "explore":
            explored = state.explored + 1
            done = explored >= self.explore_target or "explore_budget" in tags
            return replace(state, explored=explored, phase="implement" if done else "explore")
        if intent.kind in ("complete", "draft"):
            # Still here, so completion was refused: go back and (re)do the last step.
            return replace(state, refused=state.refused + 1, step=min(state.step, len(steps) - 1), attempt="real",
                           real_retries=0)
        step = steps[state.step]
        advance = replace(state, step=state.step + 1, attempt="", real_retries=0, stop_repeating=False)
        if intent.kind == "first_try":
            told = "loop_breaker" in tags or "runtime" in tags or (
                "error_recovery" in tags and re.search(RULE_PATTERNS["repeat_failing"], tags["error_recovery"], re.I))
            repeat = "repeat_failing" in self.draws.active and not ok and not (told or state.stop_repeating)
            if repeat:
                return replace(state, attempt="first_try")
            nxt = "prefers" if (step.prefers and "missing_tool" in self.draws.active
                                and step.preferred_tool not in state.knows_missing) else "real"
            return replace(state, attempt=nxt, stop_repeating=True)
        if intent.kind == "prefers":
            if ok:
                return advance
            if "error_recovery" in tags:
                return replace(state, attempt="real", knows_missing=state.knows_missing | {step.preferred_tool})
            return advance  # carries on as if the tool had worked
        if ok:
            return advance
        if "error_recovery" in tags and state.real_retries < 2:
            return replace(state, attempt="real", real_retries=state.real_retries + 1)
        return advance

    def start_state(self, first_user: str) -> SimState:
        m = _NOT_INSTALLED.search(first_user)
        missing = frozenset(t.strip() for t in m.group(1).split(",")) if m else frozenset()
        return SimState(knows_missing=missing)


def render(intent: Intent, *, malformed: str | None) -> str:
    """The reply text: Terminus-2 JSON, or the malformed variant a drifting model writes."""
    body = {"analysis": intent.analysis, "plan": intent.plan,
            "commands": [{"keystrokes": c + "\n"} for c in intent.commands],
            "task_complete": intent.complete}
    if malformed == "fence":
        return "```json\n" + json.dumps(body, indent=2) + "\n```"
    if malformed == "trailing":
        return json.dumps(body) + "\n\nI will run these commands and check the result."
    if malformed == "python":
        return repr(body)
    return json.dumps(body)


class SimModel:
    """The `Model` for the sim: knows the tasks of the suites it was given."""

    def __init__(self, profile: Profile, tasks: list[Task]):
        self.profile = profile
        self.name = f"sim/{profile.name}"
        self._tasks: list[tuple[Task, Plan]] = [(t, load_plan(t.solution_dir, t.name)) for t in tasks]

    def _find(self, first_user: str) -> tuple[Task, Plan] | None:
        for task, plan in self._tasks:
            if task.instruction in first_user:
                return task, plan
        return None

    def _reply(self, text: str, msgs) -> ModelReply:
        return ModelReply(text=text, model=self.name, seeded=True, completion_tokens=count_tokens(text),
                          prompt_tokens=sum(count_tokens(m.content) for m in msgs))

    def complete(self, request: ModelRequest) -> ModelReply:
        msgs = request.messages
        system = next((m.content for m in msgs if m.role == "system"), "")
        users = [m.content for m in msgs if m.role == "user"]
        if LABELLER_ROLE in system:
            from actors.mining.labeller import sim_label

            text = sim_label(users[-1] if users else "")
            return self._reply(text, msgs)
        if PROPOSER_ROLE in system:
            text = sim_proposer.propose(users[-1] if users else "", request.seed, self.profile.proposer_noise)
            return self._reply(text, msgs)
        found = self._find(users[0]) if users else None
        if found is None:
            text = json.dumps({"analysis": "I do not recognise this task.", "plan": "Stop.", "commands": [],
                               "task_complete": True})
            return self._reply(text, msgs)
        task, plan = found
        seed = episode_seed(request, sum(1 for m in msgs if m.role == "assistant"))
        draws = draw_episode(self.profile, task, plan, seed, system)
        policy = SimAgentPolicy(self.profile, task, plan, draws)
        state = policy.start_state(users[0])
        observations = users[1:]
        for obs in observations:  # replay: one observation follows each earlier reply
            state = policy.transition(state, policy.intent(state), obs)
        intent = policy.intent(state)
        turn = len(observations)
        drifting = "malformed_json" in draws.active and turn >= draws.drift_start
        text = render(intent, malformed=draws.drift_style if drifting else None)
        return self._reply(text, msgs)
