"""The `openai` backend against a real HTTP endpoint that misbehaves the way loaded endpoints do:
every fault is survived or ends the episode as an infrastructure failure, and is recorded;
the API key reaches the server and nothing else."""

from __future__ import annotations

import msgspec
import pytest

from actors.model.config import OpenAIModelConfig
from actors.model.openai import OpenAIModel
from harnesses.agent import run_episode
from harnesses.model import Message, ModelError, ModelRequest
from tests.conftest import needs_bwrap, sim
from tests.doubles.faulty_endpoint import OVERFLOW_MESSAGE, Fault, FaultyEndpoint

KEY = "sk-test-7f3c9a1e5b2d4c6e8a0b1c2d3e4f5a6b"


@pytest.fixture()
def endpoint(fixture_suite, monkeypatch):
    monkeypatch.setenv("SH_TEST_API_KEY", KEY)
    server = FaultyEndpoint(sim(None, fixture_suite.tasks.values()))
    yield server
    server.close()


def model_for(endpoint, **kw) -> OpenAIModel:
    base = dict(base_url=endpoint.base_url, model=endpoint.model.name, api_key_env="SH_TEST_API_KEY",
                timeout_s=1.0, max_retries=3, outage_s=20.0)
    return OpenAIModel(OpenAIModelConfig(**{**base, **kw}))


def hello() -> ModelRequest:
    return ModelRequest(messages=(Message("user", "hello"),), seed=3, conversation_id="c1")


def test_the_same_reply_as_the_model_in_process(endpoint):
    model = model_for(endpoint)
    request = ModelRequest(messages=(Message("system", "s"), Message("user", "# Task\nanything")), seed=5,
                           temperature=0.7, conversation_id="e1")
    assert model.complete(request).text == endpoint.model.complete(request).text
    assert endpoint.auth_seen == {f"Bearer {KEY}"}


@needs_bwrap
def test_an_episode_survives_every_transient_fault_and_records_it(endpoint, word_task, minimal, backend):
    ok = Fault("ok")
    endpoint.add(Fault("status", status=500), ok, Fault("status", status=429, retry_after=1), ok, Fault("hang", seconds=3),
                 ok, Fault("html"), Fault("bad_json"), ok, Fault("status", status=503), Fault("down", seconds=2))
    model = model_for(endpoint, max_retries=6)
    trace = run_episode(word_task, minimal, model, backend, seed=1)
    assert trace.infra_error is None and trace.passed, trace.stop_reason
    events = [e for t in trace.turns for e in t.model_events]
    text = "\n".join(events)
    assert not endpoint.faults, "the episode was long enough to meet every fault"
    for cause in ("HTTP 500", "HTTP 429 (Retry-After 1s)", "timeout", "bad reply: not JSON", "bad reply: unparseable",
                  "HTTP 503", "connection error"):
        assert cause in text, f"{cause!r} not recorded in {events}"
    reference = run_episode(word_task, minimal, endpoint.model, backend, seed=1)
    assert [t.raw for t in trace.turns] == [t.raw for t in reference.turns]
    assert sum(t.prompt_tokens for t in trace.turns) > 0 and KEY not in msgspec.json.encode(trace).decode()


def test_a_one_megabyte_reply_is_cut_and_recorded(endpoint):
    endpoint.add(Fault("huge", size=1_000_000))
    reply = model_for(endpoint, max_reply_chars=50_000).complete(hello())
    assert len(reply.text) < 51_000 and reply.events == ("reply cut from 1000000 to 50000 characters",)


def test_errors_retrying_cannot_fix_end_the_episode_as_infrastructure(endpoint, word_task, minimal, backend):
    endpoint.add(Fault("status", status=400))
    trace = run_episode(word_task, minimal, model_for(endpoint), backend, seed=1)
    assert trace.stop_reason == "model_error" and "HTTP 400 after 1 attempt" in trace.infra_error
    assert endpoint.requests == 1


@needs_bwrap
def test_a_context_overflow_ends_the_episode_as_the_agents_failure_with_the_servers_words(endpoint, word_task,
                                                                                          minimal, backend):
    endpoint.add(Fault("ok"), Fault("overflow"))
    trace = run_episode(word_task, minimal, model_for(endpoint), backend, seed=1)
    assert trace.stop_reason == "context_overflow" and trace.infra_error is None and trace.reward is not None
    assert len(trace.turns) == 1 and endpoint.requests == 2  # refused at once, not retried
    assert any(e.kind == "context_overflow" and OVERFLOW_MESSAGE in e.message for e in trace.events)


def test_too_many_retries_become_a_model_error(endpoint):
    endpoint.add(*[Fault("status", status=500)] * 4)
    with pytest.raises(ModelError, match=r"HTTP 500 after 3 attempt"):
        model_for(endpoint, max_retries=2).complete(hello())


def test_an_outage_longer_than_outage_s_is_a_model_error(endpoint):
    endpoint.add(Fault("down", seconds=6))
    with pytest.raises(ModelError, match="connection error"):
        model_for(endpoint, outage_s=1.0).complete(hello())


def test_the_key_is_redacted_when_a_server_quotes_it_back(endpoint):
    endpoint.add(Fault("echo_key"))
    with pytest.raises(ModelError) as info:
        model_for(endpoint).complete(hello())
    assert KEY not in str(info.value) and "HTTP 401" in str(info.value)


def test_the_config_never_holds_the_key():
    cfg = OpenAIModelConfig(base_url="http://x/v1", model="m", api_key_env="SH_TEST_API_KEY")
    assert "api_key" not in msgspec.structs.asdict(cfg)
    with pytest.raises(msgspec.ValidationError, match="api_key"):
        msgspec.convert({"kind": "openai", "base_url": "http://x/v1", "model": "m", "api_key": KEY},
                        OpenAIModelConfig)


@needs_bwrap
def test_a_rollout_rides_out_an_endpoint_that_goes_away_and_comes_back(endpoint, fixture_suite, minimal):
    from actors.rollout import summarize
    from cluster.compose import run_rollout_bare
    from cluster.config import RolloutConfig
    from tests.conftest import FIXTURE_SUITE

    endpoint.add(*[Fault("ok")] * 3, Fault("down", seconds=3))
    model = OpenAIModelConfig(base_url=endpoint.base_url, model=endpoint.model.name, api_key_env="SH_TEST_API_KEY",
                              timeout_s=5.0, outage_s=60.0)
    config = RolloutConfig(suite=str(FIXTURE_SUITE), split="all", attempts=2, concurrency=3, model=model)
    tasks = list(fixture_suite.tasks.values())
    traces, _ = run_rollout_bare(config, tasks, minimal)
    assert len(traces) == 2 * len(tasks) and all(t.infra_error is None for t in traces)
    summary = summarize(traces)
    assert summary.model_retries >= 1 and summary.prompt_tokens > 0 and summary.completion_tokens > 0
    waited = [e for t in traces for turn in t.turns for e in turn.model_events if "connection error" in e]
    assert waited, "some requests met the outage and waited it out"
