"""Run configs: YAML, defaults, and errors that name the file and the field."""

import pytest

from cluster.config import ConfigError, RunConfig, load_config
from tests.conftest import ROOT


def test_the_demo_config_loads():
    config = load_config(ROOT / "configs" / "demo.yaml", RunConfig)
    assert config.rounds == 3 and config.k == 4 and config.model.profile == "minimax"
    assert config.acceptance.rule == "paper" and config.acceptance.racing


@pytest.mark.parametrize("text,field", [
    ("roundz: 3\n", "roundz"),
    ("acceptance: {rule: sometimes}\n", "acceptance.rule"),
    ("model: {kind: gpt9}\n", "model"),
    ("k: 0\n", "k: must be at least 1"),
    ("mining: {embedder: magic}\n", "mining.embedder"),
])
def test_bad_configs_name_file_and_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, RunConfig)
    assert str(path) in str(err.value) and field in str(err.value)


def test_a_rollout_can_run_some_tasks_of_a_split_and_names_one_it_does_not_hold():
    from cluster.compose import prepare
    from cluster.config import RolloutConfig

    _, tasks, _ = prepare(RolloutConfig(suite="core", split="train", tasks=["c-compile-greeter", "config-sed-rewrite"]))
    assert sorted(t.name for t in tasks) == ["c-compile-greeter", "config-sed-rewrite"]
    with pytest.raises(ConfigError, match=r"tasks: no-such-task not in core/train \(it holds "):
        prepare(RolloutConfig(suite="core", split="train", tasks=["c-compile-greeter", "no-such-task"]))


def test_the_real_model_configs_load():
    from actors.model.config import LlamaCppModelConfig
    from cluster.calibrate import CalibrateConfig

    run = load_config(ROOT / "configs" / "demo-real.yaml", RunConfig)
    assert isinstance(run.model, LlamaCppModelConfig) and run.model.gguf == "qwen2.5-coder-1.5b"
    assert (run.rounds, run.k, run.suite) == (2, 2, "core-real")
    assert run.loop().acceptance.noise_check and run.loop().acceptance.beyond_noise
    cal = load_config(ROOT / "configs" / "calibrate-real.yaml", CalibrateConfig)
    assert cal.model == run.model and cal.out == "benchmarks/suites/core-real" and cal.max_turns == 6
