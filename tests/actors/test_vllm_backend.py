"""The vllm backend against a double of vLLM's async engine: requests, replies, errors, and on Ray
(fake GPUs) placement, sticky routing and a replica killed mid-run."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from actors.model.config import VLLMModelConfig
from actors.model.router import ReplicaDead
from actors.model.vllm import VLLMModel, engine_args, render_prompt, sampling_kwargs
from benchmarks.doubles.vllm_engine import AsyncLLMDouble, EngineDoubleFactory, RequestOutputKind, TokenizerDouble
from cluster.vllm import replica_bundles
from harnesses.model import Message, ModelError, ModelRequest, sampling_seed
from tests.conftest import ROOT

CONFIG = VLLMModelConfig(model="Qwen/Qwen2.5-0.5B-Instruct", max_tokens=512, top_p=0.9)


def request(turns: int = 1, **kw) -> ModelRequest:
    messages = [Message("system", "You are an agent."), Message("user", "Do the task.")]
    for i in range(turns - 1):
        messages += [Message("assistant", f'{{"turn": {i}}}'), Message("user", f"output {i}")]
    return ModelRequest(messages=tuple(messages), **{"temperature": 0.3, "seed": 7, "conversation_id": "ep-1", **kw})


@pytest.fixture()
def factory():
    return EngineDoubleFactory()


@pytest.fixture()
def model(factory):
    m = VLLMModel(CONFIG, engine_factory=factory)
    yield m
    m.close()


def test_a_request_goes_through_the_chat_template_without_special_tokens(model, factory):
    model.complete(request())
    engine = factory.engines[0]
    sent = engine.requests[0]
    assert sent["prompt"] == ("<|im_start|>system\nYou are an agent.<|im_end|>\n"
                              "<|im_start|>user\nDo the task.<|im_end|>\n<|im_start|>assistant\n")
    assert sent["prompt_token_ids"] == engine.tokenizer.encode(sent["prompt"], add_special_tokens=False)
    assert sent["prompt_token_ids"][0] != TokenizerDouble.bos_token_id  # the template places BOS, not encode


def test_sampling_params_come_from_the_request_and_the_config(model, factory):
    model.complete(request(max_tokens=64))
    model.complete(request(conversation_id="ep-2"))
    first, second = (r["sampling_params"] for r in factory.engines[0].requests)
    assert (first.temperature, first.seed, first.top_p, first.max_tokens, first.n) == (0.3, sampling_seed(request()), 0.9,
                                                                                     64, 1)
    assert second.max_tokens == 512  # the config's, when the request sets none
    ids = [r["request_id"] for r in factory.engines[0].requests]
    assert len(set(ids)) == 2 and ids[0].startswith("ep-1-") and ids[1].startswith("ep-2-")


def test_the_reply_is_the_terminus_action_with_the_engines_token_counts(model, factory):
    reply = model.complete(request())
    action = json.loads(reply.text)
    assert action["commands"][0]["keystrokes"] == "ls -la /app\n" and not action["task_complete"]
    sent = factory.engines[0].requests[0]
    assert reply.model == CONFIG.model
    assert reply.prompt_tokens == len(sent["prompt_token_ids"])
    assert reply.completion_tokens == len(factory.engines[0].tokenizer.tokens(reply.text))
    assert json.loads(model.complete(request(turns=2)).text)["task_complete"]
    stats = model.stats()
    assert stats["requests"] == 2 and stats["in_flight"] == 0 and stats["errors"] == 0
    assert stats["cached_prompt_tokens"] > 0  # the second turn starts with the first turn's prompt


def test_a_think_block_is_stripped_and_counted():
    m = VLLMModel(CONFIG, engine_factory=EngineDoubleFactory(think=True))
    try:
        reply = m.complete(request())
    finally:
        m.close()
    assert reply.text.startswith("{") and json.loads(reply.text)
    assert reply.reasoning_chars == len("<think>Turn 0: decide the next step.</think>\n")


def test_final_only_outputs_and_the_token_limit():
    m = VLLMModel(CONFIG, engine_factory=EngineDoubleFactory(output_kind=RequestOutputKind.FINAL_ONLY))
    try:
        full = m.complete(request())
        cut = m.complete(request(max_tokens=5, conversation_id="ep-2"))
    finally:
        m.close()
    assert json.loads(full.text) and not full.events
    assert cut.completion_tokens == 5 and cut.events == ("reply stopped at the token limit (5 tokens)",)


def test_a_template_without_a_system_role_gets_it_in_the_first_user_message():
    prompt = render_prompt(TokenizerDouble(system_role=False), request())
    assert prompt["prompt"].startswith("<|im_start|>user\nYou are an agent.\n\nDo the task.<|im_end|>")


def test_engine_errors_are_model_errors_and_a_dead_engine_says_so(model, factory):
    engine: AsyncLLMDouble = factory.engines[0]
    engine.fail_next(RuntimeError("CUDA error: an illegal memory access"))
    with pytest.raises(ModelError, match="illegal memory access") as info:
        model.complete(request())
    assert not isinstance(info.value, ReplicaDead)
    assert json.loads(model.complete(request()).text)  # the engine still serves
    engine.die()
    with pytest.raises(ReplicaDead, match="engine is dead"):
        model.complete(request())
    with pytest.raises(ReplicaDead):
        model.health()
    assert model.stats()["errors"] == 2


def test_an_engine_dying_mid_request_is_a_dead_engine():
    factory = EngineDoubleFactory(delay_s=0.01)
    m = VLLMModel(CONFIG, engine_factory=factory)
    try:
        m._loop.call_later(0.05, factory.engines[0].die)
        with pytest.raises(ReplicaDead):
            m.complete(request())
    finally:
        m.close()


def test_a_prompt_longer_than_the_context_is_a_model_error():
    m = VLLMModel(VLLMModelConfig(model="m", max_model_len=8), engine_factory=EngineDoubleFactory())
    try:
        with pytest.raises(ModelError, match="maximum model length"):
            m.complete(request())
    finally:
        m.close()


def test_without_the_extra_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed, even where it is
    with pytest.raises(ImportError, match=r"pip install 'self-harness\[vllm\]'.*GPU"):
        VLLMModel(CONFIG)


def test_build_model_selects_the_vllm_backend(monkeypatch):
    from actors.model.server import build_model

    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(ImportError, match="model.kind vllm needs the `vllm` extra"):
        build_model(CONFIG, [])


def test_engine_args_follow_the_config():
    args = engine_args(VLLMModelConfig(model="m", served_model_name="agent", tensor_parallel_size=2,
                                       max_model_len=8192, engine_kwargs={"enforce_eager": True}))
    assert args == dict(model="m", served_model_name="agent", tensor_parallel_size=2, gpu_memory_utilization=0.9,
                        dtype="auto", enable_prefix_caching=True, max_model_len=8192,
                        distributed_executor_backend="ray", enforce_eager=True)
    assert "distributed_executor_backend" not in engine_args(CONFIG) and "max_model_len" not in engine_args(CONFIG)
    with pytest.raises(ValueError, match=r"engine_kwargs.*tensor_parallel_size"):
        engine_args(VLLMModelConfig(model="m", engine_kwargs={"tensor_parallel_size": 4}))
    assert sampling_kwargs(request(), CONFIG) == dict(n=1, temperature=0.3, top_p=0.9, seed=sampling_seed(request()),
                                                      max_tokens=512)
    assert replica_bundles(VLLMModelConfig(model="m", tensor_parallel_size=2)) == [{"GPU": 1, "CPU": 1}] * 2


def test_replica_options_pin_the_gpus_in_the_placement_group():
    from cluster.replicas import pinned
    from cluster.vllm import replica_options

    group = object()  # a PlacementGroup in real life; the options only carry it
    one = replica_options(VLLMModelConfig(model="m", max_restarts=5))
    assert (one["num_gpus"], one["num_cpus"], one["max_restarts"], one["max_task_retries"]) == (1, 1, 5, 0)
    strategy = pinned(group)
    assert strategy.placement_group is group and strategy.placement_group_bundle_index == 0
    assert strategy.placement_group_capture_child_tasks  # vLLM's TP workers land in the same group
    two = replica_options(VLLMModelConfig(model="m", tensor_parallel_size=2))
    assert two["num_gpus"] == 0  # the TP workers take the GPUs, one bundle each


def test_gpu_smoke_says_what_is_missing():
    import importlib.util
    import subprocess

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here: the smoke test would really run")
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py"), "--no-rollout"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "pip install 'self-harness[vllm]'" in out.stderr and "GPU" in out.stderr


# -- on Ray, with fake GPUs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpu_cluster():
    """A one-node cluster that claims 4 GPUs (Ray takes them as logical resources on a CPU machine)."""
    import ray
    from ray.cluster_utils import Cluster

    if ray.is_initialized():  # a session another module left behind; ours needs its own resources
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 4, "num_gpus": 4})
    env = {"env_vars": {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}}
    ray.init(address=cluster.address, runtime_env=env, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def wait_for(condition, timeout_s: float = 60.0, every_s: float = 0.1):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError("condition not met in time")


@pytest.mark.ray
def test_replicas_on_placement_groups_sticky_routing_and_failover(gpu_cluster):
    import ray

    from cluster.vllm import start_vllm, stop_vllm

    config = VLLMModelConfig(model="double-model", served_model_name="agent", tensor_parallel_size=2, replicas=2,
                             max_model_len=400, health_check_s=0.2, max_restarts=2)
    router = start_vllm(config, engine_factory=EngineDoubleFactory())
    try:
        stats = ray.get(router.stats.remote())
        assert stats["model"] == "agent" and stats["healthy"] == 2
        # Each replica's placement group holds 2 GPUs on one node; all 4 are taken.
        groups = [g for g in ray.util.placement_group_table().values() if g["state"] == "CREATED"]
        assert len(groups) == 2
        for g in groups:
            assert g["strategy"] == "STRICT_PACK"
            assert sorted(b.get("GPU", 0) for b in g["bundles"].values()) == [1, 1]
        assert ray.available_resources().get("GPU", 0) == 0

        # One conversation's turns all land on one replica; a second conversation goes to the other.
        for turns in (1, 2, 3):
            reply = ray.get(router.complete.remote(request(turns=turns, conversation_id="ep-a")))
            assert reply.model == "agent" and json.loads(reply.text)
        home = ray.get(router.replica_of.remote("ep-a"))
        ray.get(router.complete.remote(request(conversation_id="ep-b")))
        assert ray.get(router.replica_of.remote("ep-b")) == 1 - home
        per_replica = [r["engine"]["requests"] for r in ray.get(router.stats.remote())["replicas"]]
        assert per_replica[home] == 3 and per_replica[1 - home] == 1

        # A request the engine refuses is the caller's ModelError, with the engine's words; no failover.
        too_long = ModelRequest(messages=(Message("user", "word " * 500),), conversation_id="ep-long")
        with pytest.raises(ModelError, match="maximum model length"):
            ray.get(router.complete.remote(too_long))
        assert ray.get(router.stats.remote())["failovers"] == 0

        # Kill the conversation's replica with requests in flight: they are answered elsewhere.
        handles = ray.get(router.__ray_call__.remote(lambda self: self.replicas))
        ray.get(handles[home].__ray_call__.remote(lambda self: setattr(self.core.engine, "delay_s", 0.05)))
        pending = [router.complete.remote(request(turns=2, conversation_id="ep-a")) for _ in range(4)]
        wait_for(lambda: ray.get(router.stats.remote())["replicas"][home]["engine"].get("in_flight", 0) >= 1,
                 every_s=0.01)
        ray.kill(handles[home], no_restart=False)
        replies = ray.get(pending)
        assert all(json.loads(r.text)["task_complete"] for r in replies)
        assert any(e.startswith(f"failover: replica {home} died") for r in replies for e in r.events)
        assert ray.get(router.stats.remote())["failovers"] >= 1

        # Ray restarts the replica and the health checks take it back.
        def back():
            s = ray.get(router.stats.remote())
            r = s["replicas"][home]
            return s["healthy"] == 2 and r["engine"].get("reconstructed")
        wait_for(back)
        assert ray.get(router.replica_of.remote("ep-a")) == 1 - home  # the moved conversation stays moved
        reply = ray.get(router.complete.remote(request(conversation_id="ep-c")))
        assert json.loads(reply.text)
    finally:
        stop_vllm(router)
    wait_for(lambda: ray.available_resources().get("GPU", 0) == 4)


@pytest.mark.ray
def test_too_few_gpus_is_a_clear_error_that_frees_what_it_reserved(gpu_cluster):
    import ray

    from actors.model.vllm import VLLMStartError
    from cluster.vllm import start_vllm

    config = VLLMModelConfig(model="m", tensor_parallel_size=2, replicas=3)
    with pytest.raises(VLLMStartError, match=r"need 6 GPUs.*the cluster has 4 GPUs"):
        start_vllm(config, engine_factory=EngineDoubleFactory(), placement_timeout_s=1)
    assert all(g["state"] == "REMOVED" for g in ray.util.placement_group_table().values())
    wait_for(lambda: ray.available_resources().get("GPU", 0) == 4)


@pytest.mark.ray
def test_a_killed_router_is_restarted_and_starts_its_replicas_again(gpu_cluster):
    """The router dies (its node lost): Ray restarts it, its first request starts new replicas in new
    placement groups, and the dead life's groups no longer hold the GPUs."""
    import ray

    from cluster.vllm import start_vllm, stop_vllm

    config = VLLMModelConfig(model="double-model", served_model_name="agent", tensor_parallel_size=2, replicas=2,
                             max_model_len=400, health_check_s=0.2)
    router = start_vllm(config, engine_factory=EngineDoubleFactory())
    try:
        assert json.loads(ray.get(router.complete.remote(request(conversation_id="ep-a"))).text)
        ray.kill(router, no_restart=False)
        reply = ray.get(router.complete.remote(request(conversation_id="ep-b")), timeout=120)
        assert json.loads(reply.text)
        stats = ray.get(router.stats.remote())
        assert stats["healthy"] == 2 and stats["requests"] == 1  # a new life: its counters start again
        live = [g for g in ray.util.placement_group_table().values() if g["state"] == "CREATED"]
        assert len(live) == 2
    finally:
        stop_vllm(router)
    wait_for(lambda: ray.available_resources().get("GPU", 0) == 4)
