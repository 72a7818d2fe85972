"""A content-addressed store (e.g. build/synth-cache): same inputs, same answer, no rerun.

Keys hash everything a result depends on (Verilog text, Yosys script, library bytes,
tool versions), never paths or times, so a cached entry is valid wherever it is read.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from nbsmt.fileio import write_json, write_text

DEFAULT_CACHE = Path("build") / "synth-cache"


def build_root() -> Path:
    """Where builds and caches go: $NBSMT_BUILD_DIR, else ./build (the Makefile's BUILD)."""
    return Path(os.environ.get("NBSMT_BUILD_DIR", "build")).resolve()


def verilog_cache() -> "Cache":
    """The one cache of generated Verilog, shared by simulation and synthesis."""
    return Cache(build_root() / "verilog-cache")


def digest(*parts) -> str:
    """sha256 over the parts (str, bytes, or JSON-able values), in order."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            part = part.encode()
        elif not isinstance(part, bytes):
            part = json.dumps(part, sort_keys=True, default=str).encode()
        h.update(len(part).to_bytes(8, "little"))
        h.update(part)
    return h.hexdigest()


class Cache:
    """JSON results and text blobs by key; `root=None` disables caching."""

    def __init__(self, root: Path | None = DEFAULT_CACHE):
        self.root = Path(root) if root is not None else None

    def _path(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / f"{key}{suffix}"

    def get_json(self, kind: str, key: str):
        if self.root is None:
            return None
        path = self._path(kind, key, ".json")
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def put_json(self, kind: str, key: str, value) -> None:
        if self.root is not None:
            write_json(self._path(kind, key, ".json"), value)

    def get_text(self, kind: str, key: str) -> str | None:
        if self.root is None:
            return None
        try:
            return self._path(kind, key, ".txt").read_text()
        except OSError:
            return None

    def put_text(self, kind: str, key: str, text: str) -> None:
        if self.root is not None:
            write_text(self._path(kind, key, ".txt"), text)
