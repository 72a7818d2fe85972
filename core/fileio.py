"""Output files: atomic, strict, checked before the work, and all or nothing per run.

A reader never sees a half-written result and a failed run leaves none. Replacing a
file keeps its permission bits, and a symlinked output is written through the link
(the link stays a link). `OutputSet` checks a run's output locations before the work
(not a directory, a writable place, no output resolving to an input or to another
output) and then writes all of them to temporary files that are renamed together.
JSON is strict (RFC 8259): NaN or infinity is a bug, never written as `Infinity`.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

from nbsmt.core.errors import InputError

# The process umask, read once: reading it means setting it, which races with threads
# that create files meanwhile (the synthesis flow writes from a thread pool).
_UMASK = os.umask(0)
os.umask(_UMASK)


def new_mode(directory: bool = False) -> int:
    """Permission bits of a freshly created file (or folder) under the process umask."""
    return (0o777 if directory else 0o666) & ~_UMASK


def target_of(path) -> Path:
    """The file a write to `path` lands on: the absolute path, symlinks followed."""
    return Path(os.path.realpath(path))


def _temporary_beside(target: Path) -> Path:
    """A new empty file next to `target`, with the permissions `target` will have."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                               dir=target.parent)
    os.close(fd)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)   # replacing a file keeps its mode
    except FileNotFoundError:
        mode = new_mode()                               # mkstemp makes 0600
    os.chmod(tmp, mode)
    return Path(tmp)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`'s target; rename it there only if the block succeeds."""
    target = target_of(path)
    tmp = _temporary_beside(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def json_text(obj) -> str:
    """Strict JSON text of `obj` (ValueError on NaN or infinity)."""
    return json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n"


def save_npy(path, array) -> None:
    with open(path, "wb") as f:
        np.save(f, array)


def write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path, obj) -> None:
    write_text(path, json_text(obj))


def write_npy(path, array) -> None:
    with atomic_path(path) as tmp:
        save_npy(tmp, array)


def _same_file(a: Path, b: Path) -> bool:
    if a == b:
        return True
    try:
        return os.path.samefile(a, b)      # hard links
    except OSError:
        return False


def _check_writable(label: str, path, target: Path) -> None:
    """InputError unless a file can be created at `target` (folders made as needed)."""
    if target.is_dir():
        raise InputError(f"{label} {path}: is a directory")
    place = target.parent
    while not place.exists():
        place = place.parent
    if not place.is_dir():
        raise InputError(f"{label} {path}: cannot write there, {place} is not a directory")
    if not os.access(place, os.W_OK | os.X_OK):
        raise InputError(f"{label} {path}: cannot write there, {place} is not writable")


class OutputSet:
    """The output files of one run, checked now, written later all together.

    outputs / inputs: {label: path} (labels name them in messages, e.g. "--out");
    outputs whose path is None are not written. Raises InputError (nothing written) for
    an output that is a directory or cannot be created, or that resolves (symlinks and
    hard links included) to an input or to another output.
    """

    def __init__(self, outputs: dict, inputs: dict | None = None):
        self.paths = {label: path for label, path in outputs.items() if path is not None}
        self.targets = {label: target_of(path) for label, path in self.paths.items()}
        seen: dict[str, Path] = {}
        ins = {label: target_of(path) for label, path in (inputs or {}).items()}
        for label, target in self.targets.items():
            path = self.paths[label]
            for in_label, in_target in ins.items():
                if _same_file(target, in_target):
                    raise InputError(f"{label} {path} is the same file as the input "
                                     f"{in_label} {inputs[in_label]}")
            for other, other_target in seen.items():
                if _same_file(target, other_target):
                    raise InputError(f"{label} {path} is the same file as {other} "
                                     f"{self.paths[other]}")
            _check_writable(label, path, target)
            seen[label] = target

    @contextlib.contextmanager
    def staging(self):
        """Yield a `Stage`; when the block succeeds every staged file replaces its target.

        If the block fails, no target is touched and every temporary file is removed.
        """
        stage = Stage(self)
        try:
            yield stage
            missing = set(self.paths) - set(stage.temps)
            if missing:
                raise RuntimeError(f"outputs never written: {', '.join(sorted(missing))}")
            for label, tmp in stage.temps.items():
                os.replace(tmp, self.targets[label])
        finally:
            for tmp in stage.temps.values():
                tmp.unlink(missing_ok=True)


class Stage:
    """Temporary files of an `OutputSet` being written (see `OutputSet.staging`)."""

    def __init__(self, outputs: OutputSet):
        self.outputs = outputs
        self.temps: dict[str, Path] = {}

    def path(self, label: str) -> Path | None:
        """The temporary file to write output `label` to (None when it is not wanted)."""
        if label not in self.outputs.paths:
            return None
        if label not in self.temps:
            self.temps[label] = _temporary_beside(self.outputs.targets[label])
        return self.temps[label]

    def text(self, label: str, text: str) -> None:
        if (tmp := self.path(label)) is not None:
            tmp.write_text(text)

    def json(self, label: str, obj) -> None:
        if (tmp := self.path(label)) is not None:
            tmp.write_text(json_text(obj))

    def npy(self, label: str, array) -> None:
        if (tmp := self.path(label)) is not None:
            save_npy(tmp, array)


def folder_outputs(out, names, json_path=None) -> "OutputSet":
    """A report's files `names` in folder `out`, plus an optional `--json` copy: the
    OutputSet a report command checks before its work and writes all or none after it."""
    out = Path(out)
    return OutputSet({name: out / name for name in names} | {"--json": json_path})
