"""Configuration of what a command runs, as typed data: every knob, its default, why.

Backend configs are tagged unions selected by `kind`; unknown keys are errors that name
the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec
import yaml

from actors.approvals import ApprovalConfig
from actors.config import Config
from actors.controller import LoopConfig
from actors.miner import MiningConfig
from actors.model.config import ModelConfig, SimModelConfig
from actors.sandbox.config import LocalSandboxConfig, SandboxConfig
from actors.run_dir import CONFIG, RunStore
from actors.validator import AcceptanceConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
SUITES_DIR = REPO_ROOT / "benchmarks" / "suites"


class ConfigError(ValueError):
    """A bad configuration: names the file and the field."""


class RolloutConfig(Config):
    """One rollout: a harness (or a calibration agent) on one split of a suite."""

    suite: str = "core"
    """A built-in suite name (benchmarks/suites/NAME) or a path to a suite folder."""
    split: str = "train"
    """train, val, test, or all."""
    tasks: list[str] = []
    """Only these tasks of the split (empty: all of them); a name the split does not hold is an error."""
    harness: str = "harnesses/minimal.yaml"
    agent: Literal["model", "oracle", "noop"] = "model"
    """`model` runs the harness with the model; `oracle` and `noop` are calibration agents."""
    model: ModelConfig = SimModelConfig()
    sandbox: SandboxConfig = LocalSandboxConfig()
    attempts: int = 2
    seed: int = 0
    """Attempt k of every task uses seed `seed + k`: runs pair by (task, attempt, seed)."""
    concurrency: int = 4
    """Episodes running at once (the sandbox pool's size), when the cluster's nodes can hold them."""
    workers: int = 2
    """Rollout worker actors the `concurrency` slots are cut into (each holds up to `concurrency / workers`),
    spread over the nodes by what each offers; a lost worker is replaced on a live node."""
    max_infra_retries: int = 2
    """Times an episode runs again after an infrastructure failure (a lost worker or node, a sandbox that did
    not start, a model outage) before it is recorded as an infrastructure error."""
    run_dir: str | None = None
    """Where traces and the summary go (default: runs/rollout-<time>)."""

    def __post_init__(self) -> None:
        for name in ("attempts", "concurrency", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if self.max_infra_retries < 0:
            raise ValueError("max_infra_retries: must not be negative")


def resolve_suite(suite: str) -> Path:
    """A suite name or path (~ expanded) -> its folder."""
    path = Path(suite).expanduser()
    if path.is_dir():
        return path.resolve()
    builtin = SUITES_DIR / suite
    if builtin.is_dir():
        return builtin
    known = sorted(p.name for p in SUITES_DIR.iterdir() if (p / "suite.yaml").exists())
    raise ConfigError(f"suite {suite!r}: no such folder and no built-in suite of that name (built-in: {known})")


def resolve_path(path: str) -> Path:
    """A path as given, or relative to the repository (so built-in files work from anywhere)."""
    p = Path(path)
    return p if p.exists() or p.is_absolute() else REPO_ROOT / p


def save_run_config(store: RunStore, config: msgspec.Struct) -> None:
    """The run directory's config.yaml, once: a resume reads what the run started with."""
    path = store.path(CONFIG)
    if not path.exists():
        store.write_text(CONFIG, yaml.safe_dump(msgspec.to_builtins(config), sort_keys=False))


def load_run_config(run_dir: Path | str, cls: type[msgspec.Struct] | None = None):
    """A run directory's config.yaml as the RunConfig (or `cls`) it was written from."""
    path = RunStore(run_dir, create=False).path(CONFIG)
    if not path.exists():
        raise ConfigError(f"{run_dir}: not a run directory (no config.yaml)")
    return load_config(path, cls or RunConfig)


def load_config(path: Path | str, cls: type[msgspec.Struct] = RolloutConfig):
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: {e}") from None
    try:
        return msgspec.convert(raw, cls)
    except (msgspec.ValidationError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None


class ProposerConfig(Config):
    """Who writes the proposals."""

    model: ModelConfig | None = None
    """None: the agent's own model, as in the paper. Else another backend: a stronger model for a small agent,
    or `{kind: sim}`, whose proposer is the sim's rule-based one (a baseline that needs no model)."""
    max_tokens: int | None = None
    """The proposer's reply budget (K proposals with their edits): None, the model's `max_tokens`, which a
    small agent's turn budget makes too short for it (a proposal cut off is refused)."""

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError("max_tokens: must be at least 1")


class RunConfig(Config):
    """A whole Self-Harness run: rounds of rollout, mine, propose, validate, merge, promote."""

    name: str = "run"
    suite: str = "core"
    """A built-in suite name or a path to a suite folder: its suite.yaml fixes the splits, or (none there) the
    run derives them at its start and keeps them in its run directory (actors/suite_splits.py)."""
    limit: int | None = None
    """Use at most this many tasks of each split (quick runs and tests); None = all."""
    initial_harness: str = "harnesses/minimal.yaml"
    model: ModelConfig = SimModelConfig()
    sandbox: SandboxConfig = LocalSandboxConfig()
    attempts: int = 2
    """Attempts per task; attempt k uses seed `seed + k`, so parent and candidate are paired."""
    seed: int = 0
    rounds: int = 3
    k: int = 4
    """Proposals asked for per round."""
    acceptance: AcceptanceConfig = AcceptanceConfig()
    approval: ApprovalConfig = ApprovalConfig()
    """Whether a validated winner waits for a person before it is promoted (default: no, as in the paper)."""
    mining: MiningConfig = MiningConfig()
    proposer: ProposerConfig = ProposerConfig()
    concurrency: int = 4
    """Episodes running at once (see RolloutConfig)."""
    workers: int = 2
    max_infra_retries: int = 2
    """See RolloutConfig."""
    run_dir: str | None = None
    """Default: runs/<name>-<time>."""
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("attempts", "rounds", "k", "concurrency", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if self.max_infra_retries < 0:
            raise ValueError("max_infra_retries: must not be negative")

    def loop(self) -> LoopConfig:
        """What the controller decides by."""
        real = not isinstance(self.model, SimModelConfig)
        return LoopConfig(rounds=self.rounds, k=self.k, seed=self.seed, acceptance=self.acceptance.resolved(real),
                          approval=self.approval, mining=self.mining)


