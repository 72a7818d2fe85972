"""A content-addressed store (e.g. build/synth-cache): same inputs, same answer, no rerun.

Keys hash everything a result depends on (Verilog text, Yosys script, library bytes,
tool versions), never paths or times, so a cached entry is valid wherever it is read.
Entries carry their own content hash and the key they were computed for, so a damaged
one, or one under another key's file name, is recomputed, never used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import sys
from pathlib import Path

from nbsmt.core.fileio import json_text, write_text

DEFAULT_CACHE = Path("build") / "synth-cache"
_HEADER = b"nbsmt-cache sha256="
_KEY = b" key="


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


def _package_files(folder, prefix: str):
    """(name, bytes) of every file under `folder` (a Traversable), named `prefix`/..., bytecode,
    __pycache__ and hidden files (editor swap files) left out."""
    for entry in folder.iterdir():
        if entry.name == "__pycache__" or entry.name.startswith("."):
            continue
        name = f"{prefix}/{entry.name}"
        if entry.is_dir():
            yield from _package_files(entry, name)
        elif not entry.name.endswith((".pyc", ".pyo")):
            yield name, entry.read_bytes()


def source_files(names, locate=None) -> list[tuple[str, bytes]]:
    """(name, bytes) of the installed code `names` stands for, sorted by name: every file
    of a package (its data files too, e.g. nbsmt.synth's cells/) or one module's file.

    Files are found through the import system (`locate`, `importlib.resources.files` of a
    package name), so a checkout (editable install) and a wheel give the same files, named
    by package ("nbsmt.core/policy.py"), never by path. Tests pass their own `locate`.
    """
    locate = locate or importlib.resources.files
    files = []
    for name in names:
        spec = importlib.util.find_spec(name)
        if spec is None:
            raise ModuleNotFoundError(f"no module named {name!r}", name=name)
        if spec.submodule_search_locations is not None:
            found = list(_package_files(locate(name), name))
            if not found:
                raise FileNotFoundError(f"no files in package {name!r}")
            files += found
        else:
            package = name.rpartition(".")[0]
            filename = Path(spec.origin).name
            files.append((f"{package}/{filename}", locate(package).joinpath(filename).read_bytes()))
    return sorted(files)


def package_fingerprint(names, versions_of=(), locate=None) -> str:
    """Hash of the code `names` stands for (`source_files`) and of the installed versions of
    the distributions `versions_of`: a cache key that changes with any edit to that code,
    and is the same wherever the package is installed from the same sources."""
    parts = [part for name, data in source_files(names, locate) for part in (name, data)]
    versions = [importlib.metadata.version(d) for d in versions_of]
    return digest("package-fingerprint", *parts, versions)


class Cache:
    """JSON results and text blobs by key; `root=None` disables caching.

    Each entry file is a header line with the sha256 of its payload and the entry's name
    (`kind/key.json`, `kind/key.txt`: the key it was computed for), then the payload:

        nbsmt-cache sha256=<hex> key=<kind>/<key><suffix>

    A reader checks the hash, the name and the structure the caller promises (`check`);
    an entry that fails any (truncated, edited, copied from another key's file, not the
    structure) is deleted with a one-line notice on stderr and reported as a miss, so
    the caller recomputes it. An entry written before names were stored (hash only) is
    a miss too, deleted quietly: it is not damaged, only unbound.
    """

    def __init__(self, root: Path | None = DEFAULT_CACHE):
        self.root = Path(root) if root is not None else None

    @staticmethod
    def _name(kind: str, key: str, suffix: str) -> str:
        """The entry's name under the root, stored in its header: what binds it to its key."""
        if "\n" in kind or "\n" in key:
            raise ValueError(f"cache kind and key must be one line: {kind!r}, {key!r}")
        return f"{kind}/{key}{suffix}"

    def _read(self, kind: str, key: str, suffix: str, decode, check):
        name = self._name(kind, key, suffix)
        path = self.root / name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._discard(path, exc.strerror or str(exc))
        header, _, payload = raw.partition(b"\n")
        content, bound, stored = header.partition(_KEY)
        if content != _HEADER + hashlib.sha256(payload).hexdigest().encode():
            return self._discard(path, "content hash mismatch")
        if not bound:                  # the format before names were stored: a quiet miss
            path.unlink(missing_ok=True)
            return None
        if stored != name.encode():
            return self._discard(path, "computed for another key")
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

    def _write(self, kind: str, key: str, suffix: str, payload: str) -> None:
        name = self._name(kind, key, suffix)
        header = _HEADER + hashlib.sha256(payload.encode()).hexdigest().encode() + _KEY
        write_text(self.root / name, header.decode() + name + "\n" + payload)

    def get_json(self, kind: str, key: str, check=None):
        """The JSON value stored under (kind, key), or None; `check(value)` must be true."""
        if self.root is None:
            return None
        return self._read(kind, key, ".json", json.loads, check)

    def put_json(self, kind: str, key: str, value) -> None:
        if self.root is not None:
            self._write(kind, key, ".json", json_text(value))

    def get_text(self, kind: str, key: str, check=None) -> str | None:
        """The text stored under (kind, key), or None; `check(text)` must be true."""
        if self.root is None:
            return None
        return self._read(kind, key, ".txt", bytes.decode, check)

    def put_text(self, kind: str, key: str, text: str) -> None:
        if self.root is not None:
            self._write(kind, key, ".txt", text)
