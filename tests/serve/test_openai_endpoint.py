"""The Serve endpoint, for real: the openai client and curl talk to it, it refuses what it
should, and the whole loop run through it (`model.kind: openai`) reaches the decisions the
in-process sim reaches, with the API key in no file of the run and in no log."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import msgspec
import pytest

from actors.miner import MiningConfig
from actors.model.config import OpenAIModelConfig, SimModelConfig
from actors.validator import AcceptanceConfig
from cluster.config import RunConfig
from harnesses.model import Message, ModelRequest
from tests.conftest import needs_bwrap

pytestmark = [pytest.mark.ray, needs_bwrap]

KEY = "sk-serve-0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a"
SMALL = dict(limit=6, attempts=2, rounds=2, k=3, concurrency=4, progress=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint():
    import os

    import ray
    from ray import serve

    from cluster.ray_init import init_ray
    from serve.openai import build_app

    if ray.is_initialized():  # workers must inherit the key's variable, as on a real node
        ray.shutdown()
    os.environ["SH_SERVE_KEY"] = KEY
    init_ray()
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(build_app({"model": {"kind": "sim", "profile": "glm"}, "api_key_env": "SH_SERVE_KEY"}),
              name="openai", route_prefix="/")
    yield f"http://127.0.0.1:{port}/v1"
    serve.shutdown()
    ray.shutdown()
    del os.environ["SH_SERVE_KEY"]


def test_the_openai_client_talks_to_it(endpoint):
    from openai import OpenAI

    from actors.model.sim import SimModel, load_profile
    from cluster.config import resolve_suite
    from harnesses.tasks import load_suite

    client = OpenAI(base_url=endpoint, api_key=KEY)
    assert [m.id for m in client.models.list().data] == ["sim/glm"]
    tasks = list(load_suite(resolve_suite("core")).tasks.values())
    messages = [{"role": "system", "content": "You are an agent."}, {"role": "user", "content": "# Task\n" +
                                                                                           tasks[0].instruction}]
    reply = client.chat.completions.create(model="sim/glm", messages=messages, seed=4, temperature=0.7,
                                           prompt_cache_key="ep-1")
    local = SimModel(load_profile("glm"), tasks).complete(ModelRequest(
        messages=tuple(Message(**m) for m in messages), seed=4, temperature=0.7, conversation_id="ep-1"))
    assert reply.choices[0].message.content == local.text
    assert reply.usage.prompt_tokens == local.prompt_tokens and reply.model == "sim/glm"


def curl(*args: str) -> tuple[int, dict]:
    out = subprocess.run(["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=60)
    body, code = out.stdout.rsplit("\n", 1)
    return int(code), json.loads(body)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (cluster/setup.sh installs it)")
def test_curl_talks_to_it_and_bad_requests_get_openai_errors(endpoint):
    auth = ["-H", f"Authorization: Bearer {KEY}"]
    code, body = curl(*auth, f"{endpoint}/models")
    assert code == 200 and body["data"][0]["id"] == "sim/glm"
    good = json.dumps({"model": "sim/glm", "messages": [{"role": "user", "content": "hello"}], "seed": 1})
    code, body = curl(*auth, "-H", "Content-Type: application/json", "-d", good, f"{endpoint}/chat/completions")
    assert code == 200 and body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    assert curl("-d", good, f"{endpoint}/chat/completions")[0] == 401
    assert curl("-H", "Authorization: Bearer wrong", f"{endpoint}/models")[0] == 401
    code, body = curl(*auth, "-d", "{not json", f"{endpoint}/chat/completions")
    assert code == 400 and body["error"]["type"] == "invalid_request_error"
    bad_role = json.dumps({"model": "sim/glm", "messages": [{"role": "robot", "content": "x"}]})
    code, body = curl(*auth, "-d", bad_role, f"{endpoint}/chat/completions")
    assert code == 400 and body["error"]["param"] == "messages[0].role"
    code, body = curl(*auth, "-d", good.replace("sim/glm", "gpt-9"), f"{endpoint}/chat/completions")
    assert code == 404 and body["error"]["code"] == "model_not_found"
    code, _ = curl(*auth, "-d", good.replace('"seed": 1', '"stream": true'), f"{endpoint}/chat/completions")
    assert code == 400


def decisions(root: Path):
    out = []
    for d in sorted((root / "rounds").iterdir()):
        dec = json.loads((d / "decision.json").read_text())
        out.append((dec["parent_id"], dec["promoted_id"], sorted(dec["accepted"]), dec["reason"]))
    return out


def test_the_loop_through_the_endpoint_decides_as_the_sim_and_leaks_no_key(endpoint, tmp_path, capfd):
    import ray

    from cluster.controller import run_loop
    from cluster.loop import open_run, run_loop_bare

    http_model = OpenAIModelConfig(base_url=endpoint, model="sim/glm", api_key_env="SH_SERVE_KEY", timeout_s=60)
    assert RunConfig(**SMALL, model=http_model).loop().acceptance.noise_check  # an endpoint is a real model...
    same = AcceptanceConfig(noise_check=False)  # ...but this one is the sim: the same rule on both sides
    sim_cfg = RunConfig(**SMALL, model=SimModelConfig(profile="glm"), acceptance=same)
    sim_report = run_loop_bare(sim_cfg, open_run(sim_cfg, str(tmp_path / "sim")))
    http_cfg = RunConfig(**SMALL, model=http_model, acceptance=same)
    assert http_cfg.mining == MiningConfig() and http_cfg.mining.model_labels is None  # labels on: a real model
    http_report = run_loop(http_cfg, open_run(http_cfg, str(tmp_path / "http")))

    assert decisions(tmp_path / "http") == decisions(tmp_path / "sim") and decisions(tmp_path / "sim")
    assert http_report.final_id == sim_report.final_id
    assert msgspec.to_builtins(http_report.final) == msgspec.to_builtins(sim_report.final)
    labelled = [f for p in (tmp_path / "http" / "rounds").glob("*/mining.json")
                for c in json.loads(p.read_text())["clusters"] for f in c["examples"]]
    assert labelled and all(f["signature"]["source"] == "model" for f in labelled)

    files = [p for p in (tmp_path / "http").rglob("*") if p.is_file()]
    assert files and not [p for p in files if KEY.encode() in p.read_bytes()]
    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    leaked = [p for p in logs.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert not leaked, f"the key is in {leaked}"
    out, err = capfd.readouterr()
    assert KEY not in out and KEY not in err


def test_an_unreachable_endpoint_is_a_clean_infrastructure_failure_on_ray(endpoint, tmp_path):
    from actors.run_dir import RunStore
    from cluster.compose import run_rollout
    from cluster.config import RolloutConfig
    from tests.conftest import FIXTURE_SUITE

    gone = OpenAIModelConfig(base_url=f"http://127.0.0.1:{free_port()}/v1", model="m", api_key_env=None,
                             outage_s=0.5)
    config = RolloutConfig(suite=str(FIXTURE_SUITE), split="train", attempts=1, concurrency=1, workers=1, model=gone)
    traces, summary = run_rollout(config, RunStore(tmp_path), progress=False)
    assert summary.infra_errors == summary.episodes == len(traces) >= 1
    for t in traces:
        assert t.stop_reason == "model_error" and t.infra_error.startswith("model: http://127.0.0.1:")
        assert "connection error" in t.infra_error and "Traceback" not in t.infra_error
