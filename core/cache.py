"""A content-addressed store (e.g. build/synth-cache): same inputs, same answer, no rerun.

Keys hash everything a result depends on (Verilog text, Yosys script, library bytes,
tool versions), never paths or times, so a cached entry is valid wherever it is read.
Entries carry their own content hash, so a damaged one is recomputed, never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

from nbsmt.core.fileio import json_text, write_text

DEFAULT_CACHE = Path("build") / "synth-cache"
_HEADER = b"nbsmt-cache sha256="


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
    """JSON results and text blobs by key; `root=None` disables caching.

    Each entry file is a header line with the sha256 of its payload, then the payload.
    A reader checks the hash and the structure the caller promises (`check`); an entry
    that fails either (truncated, edited, from an older format) is deleted with a
    one-line notice on stderr and reported as a miss, so the caller recomputes it.
    """

    def __init__(self, root: Path | None = DEFAULT_CACHE):
        self.root = Path(root) if root is not None else None

    def _path(self, kind: str, key: str, suffix: str) -> Path:
        return self.root / kind / f"{key}{suffix}"

    def _read(self, path: Path, decode, check):
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._discard(path, exc.strerror or str(exc))
        header, _, payload = raw.partition(b"\n")
        if header != _HEADER + hashlib.sha256(payload).hexdigest().encode():
            return self._discard(path, "content hash mismatch")
        try:
            value = decode(payload)
        except ValueError as exc:
            return self._discard(path, f"unreadable: {exc}")
        if check is not None and not check(value):
            return self._discard(path, "not the structure this cache holds")
        return value

    @staticmethod
    def _discard(path: Path, reason: str) -> None:
        print(f"nbsmt: cache entry {path} is corrupt ({reason}): discarded, recomputing",
              file=sys.stderr, flush=True)
        path.unlink(missing_ok=True)
        return None

    def _write(self, path: Path, payload: str) -> None:
        data = payload.encode()
        write_text(path, (_HEADER + hashlib.sha256(data).hexdigest().encode()).decode()
                   + "\n" + payload)

    def get_json(self, kind: str, key: str, check=None):
        """The JSON value stored under (kind, key), or None; `check(value)` must be true."""
        if self.root is None:
            return None
        return self._read(self._path(kind, key, ".json"), json.loads, check)

    def put_json(self, kind: str, key: str, value) -> None:
        if self.root is not None:
            self._write(self._path(kind, key, ".json"), json_text(value))

    def get_text(self, kind: str, key: str, check=None) -> str | None:
        """The text stored under (kind, key), or None; `check(text)` must be true."""
        if self.root is None:
            return None
        return self._read(self._path(kind, key, ".txt"), bytes.decode, check)

    def put_text(self, kind: str, key: str, text: str) -> None:
        if self.root is not None:
            self._write(self._path(kind, key, ".txt"), text)
