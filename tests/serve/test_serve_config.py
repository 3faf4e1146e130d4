"""The Serve app builder validates its dict like every other config, and the shipped configs load."""

from __future__ import annotations

import pytest
import yaml

from actors.model.config import OpenAIModelConfig, VLLMModelConfig
from cluster.config import REPO_ROOT, ConfigError, RunConfig, load_config
from serve.openai import ServeConfig, build_app, parse_config, served_name


def test_the_serve_config_file_builds_the_app():
    from ray.serve import Application

    spec = yaml.safe_load((REPO_ROOT / "serve" / "config.yaml").read_text())["applications"][0]
    module, name = spec["import_path"].split(":")
    assert (module, name) == ("serve.openai", "build_app")
    assert isinstance(build_app(spec["args"]), Application)


@pytest.mark.parametrize("args,field", [({"modle": {}}, "modle"), ({"replicas": 0}, "replicas"),
                                        ({"model": {"kind": "gpt"}}, "model"),
                                        ({"model": {"kind": "openai", "base_url": "ftp://x", "model": "m"}},
                                         "base_url")])
def test_bad_serve_configs_name_the_field(args, field):
    with pytest.raises(ConfigError, match=field):
        parse_config(args)


def test_served_names():
    assert served_name(ServeConfig()) == "sim/minimax"
    assert served_name(ServeConfig(model=VLLMModelConfig(model="Qwen/Qwen3-8B"))) == "Qwen/Qwen3-8B"
    assert served_name(ServeConfig(served_model_name="mine")) == "mine"


def test_the_shipped_model_configs_load():
    assert isinstance(load_config(REPO_ROOT / "configs" / "openai.yaml", RunConfig).model, OpenAIModelConfig)
    assert isinstance(load_config(REPO_ROOT / "configs" / "vllm.yaml", RunConfig).model, VLLMModelConfig)
