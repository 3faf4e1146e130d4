"""The review app's config: where the token comes from, and what is refused before anything serves."""

from __future__ import annotations

import pytest

from cluster.config import ConfigError
from serve.review import ReviewConfig, build_app, check, is_loopback, load_token, parse_config
from tests.serve.review_fixture import make_waiting_run

TOKEN = "review-token-5b1e0c7d9a2f4e68"


def test_token_file_must_be_private(tmp_path):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    for mode in (0o644, 0o640, 0o604, 0o660):
        path.chmod(mode)
        with pytest.raises(ConfigError, match=f"mode {mode:o}.*chmod 600"):
            load_token(ReviewConfig(runs=str(tmp_path), token_file=str(path)))
    path.chmod(0o600)
    assert load_token(ReviewConfig(runs=str(tmp_path), token_file=str(path))) == TOKEN
    with pytest.raises(ConfigError, match="no-such-file.*No such file"):
        load_token(ReviewConfig(runs=str(tmp_path), token_file=str(tmp_path / "no-such-file")))
    path.write_text("short")
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_token(ReviewConfig(runs=str(tmp_path), token_file=str(path)))


def test_token_from_the_environment(tmp_path, monkeypatch):
    config = ReviewConfig(runs=str(tmp_path), token_env="SH_REVIEW_TEST_TOKEN")
    monkeypatch.delenv("SH_REVIEW_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="SH_REVIEW_TEST_TOKEN is not set"):
        load_token(config)
    monkeypatch.setenv("SH_REVIEW_TEST_TOKEN", TOKEN)
    assert load_token(config) == TOKEN
    assert load_token(ReviewConfig(runs=str(tmp_path))) is None


def test_config_errors_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match="review config: .*runs"):
        parse_config({})
    with pytest.raises(ConfigError, match="unknown field `port`"):
        parse_config({"runs": str(tmp_path), "port": 1})
    with pytest.raises(ConfigError, match="one, not both"):
        parse_config({"runs": str(tmp_path), "token_env": "A", "token_file": "b"})
    with pytest.raises(ConfigError, match="not loopback: reads and writes need a token"):
        check(ReviewConfig(runs=str(tmp_path), host="0.0.0.0"))
    with pytest.raises(ConfigError, match="runs: .*no such directory"):
        check(ReviewConfig(runs=str(tmp_path / "nope")))


def test_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.org")


def test_build_app_validates_then_binds(tmp_path, monkeypatch):
    (tmp_path / "demo").mkdir()
    make_waiting_run(tmp_path / "demo")
    monkeypatch.setenv("SH_REVIEW_TEST_TOKEN", TOKEN)
    root, token = check(ReviewConfig(runs=str(tmp_path / "demo"), token_env="SH_REVIEW_TEST_TOKEN"))
    assert root.only == "demo" and token == TOKEN
    app = build_app({"runs": str(tmp_path), "token_env": "SH_REVIEW_TEST_TOKEN"})
    assert type(app).__name__ == "Application"


def test_review_without_a_token_makes_a_private_one(tmp_path, monkeypatch, capsys):
    import argparse
    import stat
    import tempfile

    from cluster.cli_review import TOKEN_ENV, _token_args

    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    args = argparse.Namespace(token_file=None, token_env=None)
    made = _token_args(args)
    assert made.pop("made") is True
    path = tmp_path / made["token_file"]
    assert path.parent == tmp_path and stat.S_IMODE(path.stat().st_mode) == 0o600
    token = load_token(ReviewConfig(runs=str(tmp_path), **made))
    assert token in capsys.readouterr().out and len(token) >= 32
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert _token_args(args) == {"token_env": TOKEN_ENV}
    assert _token_args(argparse.Namespace(token_file="f", token_env=None)) == {"token_file": "f"}


def test_the_review_serve_config_builds_the_app(tmp_path, monkeypatch):
    import yaml
    from ray.serve import Application

    from cluster.config import REPO_ROOT

    spec = yaml.safe_load((REPO_ROOT / "serve" / "review.yaml").read_text())["applications"][0]
    assert spec["import_path"] == "serve.review:build_app"
    monkeypatch.setenv(spec["args"]["token_env"], TOKEN)
    assert isinstance(build_app({**spec["args"], "runs": str(tmp_path)}), Application)
