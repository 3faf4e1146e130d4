"""The run directory: everything a run decides, on disk, as it happens.

Append-only: traces are written once, by episode id; a rerun can skip what exists.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import msgspec

from harnesses.trace import Trace, load_trace, save_trace


class RunStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def new(cls, base: Path | str, prefix: str) -> "RunStore":
        stamp = time.strftime("%Y%m%d-%H%M%S")
        root = Path(base) / f"{prefix}-{stamp}"
        n = 1
        while root.exists():
            n += 1
            root = Path(base) / f"{prefix}-{stamp}-{n}"
        return cls(root)

    def traces_dir(self, group: str = "") -> Path:
        return self.root / "traces" / group if group else self.root / "traces"

    def save_trace(self, trace: Trace, group: str = "") -> Path:
        return save_trace(trace, self.traces_dir(group))

    def load_traces(self, group: str = "") -> list[Trace]:
        return [load_trace(p) for p in sorted(self.traces_dir(group).glob("*.json"))]

    def has_trace(self, episode_id: str, group: str = "") -> bool:
        return (self.traces_dir(group) / f"{episode_id}.json").exists()

    def write_json(self, name: str, data: Any) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(data), indent=2))
        tmp.replace(path)
        return path

    def append_jsonl(self, name: str, record: Any) -> None:
        with open(self.root / name, "ab") as f:
            f.write(msgspec.json.encode(record) + b"\n")

    def read_json(self, name: str) -> Any:
        return json.loads((self.root / name).read_text())
