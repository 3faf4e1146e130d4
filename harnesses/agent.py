"""One episode: the harness's prompt -> model -> parse -> middleware -> sandbox -> observe, until
completion or a limit; then the verifier. Everything that happens goes into the `Trace`.

The loop never raises for the agent's or the model's mistakes: a bad reply costs a
turn, a sandbox or model breakdown is recorded as an infrastructure failure.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING


from harnesses import middleware as mw
from harnesses.action import (MIN_COMMAND_S, PARSE_ERROR, Action, Command, ReplyError, format_command_result,
                              parse_strict, tagged, to_action, truncate_text)
from harnesses.model import ContextOverflow, Message, Model, ModelError, ModelRequest
from harnesses.prompts import TOOL_FORMS, framing
from harnesses.sandbox import ExecResult, Limits, SandboxBackend, SandboxError
from harnesses.tasks import Task, run_verifier
from harnesses.trace import CommandRecord, Trace, Turn

if TYPE_CHECKING:
    from harnesses.spec import HarnessSpec

VERIFIER_EXCERPT = 4000


def first_prompt(task: Task, harness: "HarnessSpec", notes: list[str]) -> str:
    """The task, the middleware's start notes, then the loop's reply format and worked example
    (`harnesses/prompts.py`; the loop's framing, never the harness's prompt)."""
    parts = ["# Task", task.instruction, "", f"You are in {task.workdir}."]
    parts += [""] + notes if notes else []
    parts += ["", framing(harness)]
    return "\n".join(parts)


def tool_refusal(tool: str | None, enabled: set[str]) -> str:
    """Why a `tool` command did not run, and what the tools are: a model that writes {"tool": "cat"} should
    learn that shell commands go in keystrokes, not that cat is disabled."""
    files = sorted(enabled - {"shell"})
    head = (f"the {tool} tool is not enabled in this harness" if tool in TOOL_FORMS and tool != "shell"
            else f"{tool!r} is not a tool")
    head += f"; the tools are {', '.join(files)}" if files else "; this harness has no file tools"
    if "shell" in enabled:
        head += ('. Shell commands (cat, git, python, ...) go in "keystrokes", without "tool": '
                 '{"keystrokes": "cat /app/notes.txt\n"}')
    return head


def _limits(task: Task, harness: "HarnessSpec") -> Limits:
    cpu = int(max(harness.runtime.command_timeout_s, 10) * 2)
    return Limits(cpu_seconds=cpu, memory_mb=max(512, task.environment.memory_mb),
                  max_output_bytes=harness.runtime.max_output_bytes)


class Episode:
    """The state of one running episode; `run_episode` is the way in."""

    def __init__(self, task: Task, harness: "HarnessSpec", model: Model, sandbox, trace: Trace):
        self.task, self.harness, self.model, self.sandbox, self.trace = task, harness, model, sandbox, trace
        self.ctx = mw.EpisodeContext(task=task, harness=harness, sandbox=sandbox, trace=trace)
        self.middleware = mw.build(harness)
        self.enabled_tools = {t.name for t in harness.tools if t.enabled}
        self.recent_errors = 0
        self.total_commands = 0

    # -- hooks ---------------------------------------------------------------------------

    def _hook(self, name: str, script: str | None) -> ExecResult | None:
        if not script:
            return None
        result = self.sandbox.exec(script, timeout_s=self.harness.runtime.command_timeout_s, cwd=self.task.workdir)
        self.ctx.emit(f"hook:{name}", "run", f"exit {result.exit_code}: {result.output[-500:]}")
        return result

    # -- one command -----------------------------------------------------------------------

    def _tool_call(self, cmd: Command) -> tuple[str, ExecResult]:
        """The file tools, done through the sandbox's file API."""
        start = time.monotonic()
        label = f"{cmd.tool} {cmd.path or ''}".strip()
        if cmd.tool not in self.enabled_tools or cmd.tool == "shell":
            return label, ExecResult(exit_code=2, output=tool_refusal(cmd.tool, self.enabled_tools), duration_s=0.0)
        try:
            if not cmd.path:
                raise ValueError("needs 'path'")
            if cmd.tool == "read_file":
                out = self.sandbox.read_file(cmd.path).decode(errors="replace")
            elif cmd.tool == "write_file":
                self.sandbox.write_file(cmd.path, (cmd.content or "").encode())
                out = f"wrote {len(cmd.content or '')} characters to {cmd.path}"
            elif cmd.tool == "edit_file":
                text = self.sandbox.read_file(cmd.path).decode()
                if not cmd.old or cmd.old not in text:
                    raise ValueError(f"'old' text not found in {cmd.path}")
                self.sandbox.write_file(cmd.path, text.replace(cmd.old, cmd.new or "", 1).encode())
                out = f"edited {cmd.path}"
            else:
                raise ValueError(f"unknown tool {cmd.tool!r}")
            code = 0
        except (OSError, ValueError, UnicodeDecodeError) as e:
            out, code = f"error: {e}", 1
        return label, ExecResult(exit_code=code, output=out, duration_s=time.monotonic() - start)

    def _run_command(self, cmd: Command, notes: list[str]) -> tuple[str, ExecResult | None]:
        if cmd.tool is not None:
            label, result = self._tool_call(cmd)
            self._record(label, result)
            return format_command_result(label, result.output, result.exit_code), result
        command = (cmd.keystrokes or "").rstrip("\n")
        if "shell" not in self.enabled_tools:
            result = ExecResult(exit_code=2, output="tool 'shell' is not enabled in this harness", duration_s=0.0)
            self._record(command, result)
            return format_command_result(command, result.output, result.exit_code), result
        decision = mw.CommandDecision(run=command)
        for m in self.middleware:
            decision = m.before_command(self.ctx, command, decision)
        if decision.run is None:
            self.trace.commands.append(CommandRecord(turn=self.ctx.turn, command=command, exit_code=None,
                                                     output="", blocked_by=decision.message[:200]))
            return format_command_result(command, "", None, note=tagged("loop_breaker", decision.message)), None
        timeout = self.harness.runtime.command_timeout_s
        if cmd.duration is not None:
            timeout = min(timeout, max(cmd.duration, MIN_COMMAND_S))
        result = self.sandbox.exec(decision.run, timeout_s=timeout, cwd=self.task.workdir)
        self._record(command, result)
        for m in self.middleware:
            for msg in m.after_command(self.ctx, command, result):
                notes.append(tagged(m.name, msg))
        if result.exit_code != 0:
            hook = self._hook("on_error", self.harness.hooks.on_error)
            if hook is not None and hook.output.strip():
                notes.append(tagged("hook on_error", hook.output.strip()[-1000:]))
        note = f"[killed: {result.killed_by}]" if result.killed_by else ""
        return format_command_result(command, result.output, result.exit_code, note=note), result

    def _record(self, command: str, result: ExecResult) -> None:
        self.total_commands += 1
        self.recent_errors = self.recent_errors + 1 if result.exit_code != 0 else 0
        self.trace.commands.append(CommandRecord(
            turn=self.ctx.turn, command=command, exit_code=result.exit_code,
            output=truncate_text(result.output, self.harness.runtime.max_output_bytes),
            duration_s=result.duration_s, timed_out=result.timed_out, truncated=result.truncated,
            killed_by=result.killed_by))

    # -- completion ------------------------------------------------------------------------

    def _completion_refusals(self, action: Action) -> list[str]:
        refusals = [tagged(m.name, msg) for m in self.middleware for msg in m.on_complete(self.ctx, action)]
        hook = self._hook("before_complete", self.harness.hooks.before_complete)
        if hook is not None and hook.exit_code != 0:
            refusals.append(tagged("hook before_complete",
                                   f"Completion refused (exit {hook.exit_code}): {hook.output.strip()[-1000:]}"))
        return refusals

    # -- the loop --------------------------------------------------------------------------

    def parse(self, raw: str) -> Action:
        try:
            value = parse_strict(raw)
        except ReplyError as strict_error:
            value = None
            for m in self.middleware:
                value = m.parse_reply(self.ctx, raw)
                if value is not None:
                    break
            if value is None:
                raise strict_error
        try:
            return to_action(value)
        except ReplyError as schema_error:
            for m in self.middleware:
                fixed = m.repair_action(self.ctx, value, str(schema_error))
                if fixed is not None:
                    return to_action(fixed)
            raise

    def run(self, seed: int, deadline: float) -> None:
        rt = self.harness.runtime
        self._hook("on_start", self.harness.hooks.on_start)
        notes = [tagged(m.name, msg) for m in self.middleware for msg in m.on_start(self.ctx)]
        messages = [Message("system", self.harness.system_prompt()),
                    Message("user", first_prompt(self.task, self.harness, notes))]
        conversation = self.trace.episode_id
        turns = rt.max_turns if self.task.max_turns is None else min(rt.max_turns, self.task.max_turns)
        for turn_index in range(turns):
            self.ctx.turn = turn_index
            if time.monotonic() > deadline:
                self.trace.stop_reason = "agent_timeout"
                return
            try:
                reply = self.model.complete(ModelRequest(messages=tuple(messages), temperature=rt.temperature,
                                                         seed=seed, conversation_id=conversation, turn=turn_index))
            except ContextOverflow as e:  # the agent's own conversation filled the window: its failure
                self.trace.stop_reason = "context_overflow"
                self.ctx.emit("model", "context_overflow", str(e)[:1000])
                return
            except ModelError as e:
                self.trace.stop_reason = "model_error"
                self.trace.infra_error = f"model: {e}"
                return
            turn = Turn(index=turn_index, raw=reply.text, prompt_tokens=reply.prompt_tokens,
                        completion_tokens=reply.completion_tokens, cached_tokens=reply.cached_tokens,
                        reasoning_chars=reply.reasoning_chars,
                        model_events=list(reply.events))
            self.trace.turns.append(turn)
            if self.trace.seeded is None:
                self.trace.seeded = reply.seeded
            messages.append(Message("assistant", reply.text))
            try:
                action = self.parse(reply.text)
            except ReplyError as e:
                turn.parse_error = str(e)
                again = len(self.trace.turns) > 1 and self.trace.turns[-2].raw == reply.text
                turn.observation = (f"{PARSE_ERROR}: {e}. Reply with one JSON object with keys analysis, plan, "
                                    "commands and task_complete, and nothing else."
                                    + (" Your reply was the same as the last one." if again else ""))
                messages.append(Message("user", turn.observation))
                continue
            turn.action = action
            blocks: list[str] = []
            notes = []
            results: list[ExecResult] = []
            for cmd in action.commands:
                if rt.max_total_commands is not None and self.total_commands >= rt.max_total_commands:
                    self.trace.stop_reason = "max_total_commands"
                    self.ctx.emit("runtime", "stop", f"max_total_commands={rt.max_total_commands} reached")
                    turn.observation = "\n\n".join(blocks)
                    return
                block, result = self._run_command(cmd, notes)
                blocks.append(block)
                if result is not None:
                    results.append(result)
            if rt.max_recent_errors is not None and self.recent_errors >= rt.max_recent_errors:
                text = rt.instruction or (f"{self.recent_errors} commands in a row have failed. Stop and change "
                                          "approach: do not repeat a failed command verbatim.")
                self.ctx.emit("runtime", "inject", f"max_recent_errors={rt.max_recent_errors}")
                notes.append(tagged("runtime", text))
                self.recent_errors = 0
            for m in self.middleware:
                notes += [tagged(m.name, msg) for msg in m.after_turn(self.ctx, action, results)]
            if action.task_complete:
                refusals = self._completion_refusals(action)
                if not refusals:
                    self.trace.completed = True
                    self.trace.stop_reason = "completed"
                    turn.observation = "\n\n".join(blocks)
                    return
                notes += refusals
            if not action.commands and not action.task_complete:
                notes.append(tagged("harness", "Your reply had no commands. Run a command or declare completion."))
            turn.observation = truncate_text("\n\n".join(blocks + notes), rt.max_output_bytes * 2) or "(no output)"
            messages.append(Message("user", turn.observation))
        self.trace.stop_reason = "max_turns"


def verify_into(trace: Trace, sandbox, task: Task) -> None:
    """Run the task's verifier and record its verdict. No reward at all is the verifier's failure,
    unless the agent tampered with the verifier's files: then the episode is the agent's failure."""
    verdict = run_verifier(sandbox, task)
    trace.reward, trace.verifier_error = verdict.reward, verdict.error
    trace.verifier_output = truncate_text(verdict.output, VERIFIER_EXCERPT)
    trace.tampering = list(verdict.tampering)
    trace.events += [mw.base.MiddlewareEvent(turn=-1, name="verifier", kind="note", message=n) for n in verdict.notes]
    if verdict.tampering:
        paths = ", ".join(dict.fromkeys(t.path for t in verdict.tampering))
        trace.events.append(mw.base.MiddlewareEvent(turn=-1, name="verifier", kind="tampering",
                                                    message=f"the agent left changes where the verifier lives: {paths}"[:1000]))
    elif verdict.reward is None:
        trace.infra_error = f"verifier: {verdict.error}"


def run_episode(task: Task, harness: "HarnessSpec", model: Model, backend: SandboxBackend, *,
                attempt: int = 0, seed: int = 0, split: str = "") -> Trace:
    """Run one episode and its verifier; always returns a trace, never leaks a sandbox."""
    trace = Trace(task=task.name, harness_id=harness.id, model=model.name, attempt=attempt, seed=seed, split=split)
    start = time.monotonic()
    sandbox = None
    try:
        sandbox = backend.open(task, _limits(task, harness))
        episode = Episode(task, harness, model, sandbox, trace)
        episode.run(seed, deadline=start + task.agent_timeout_s)
        if trace.infra_error is None:
            verify_into(trace, sandbox, task)
    except SandboxError as e:
        trace.infra_error = f"sandbox: {e}"
        trace.stop_reason = trace.stop_reason or "infra_error"
    finally:
        if sandbox is not None:
            try:
                sandbox.close()
            except Exception as e:  # cleanup must not hide the episode's result
                trace.events.append(mw.base.MiddlewareEvent(turn=-1, name="sandbox", kind="cleanup_error",
                                                            message=str(e)))
        trace.duration_s = time.monotonic() - start
    return trace
