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
import secrets
import stat
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


def fresh_path(parent, prefix: str, suffix: str = "") -> Path:
    """A path in `parent` that names nothing yet (this process's id and 64 random bits).

    Named before it is created, unlike `tempfile.mkstemp`'s: the caller holds the name
    when it enters the `try` whose `finally` removes it, so a signal landing between the
    creation and the `try` cannot leave the file behind.
    """
    return Path(parent) / f"{prefix}{os.getpid()}-{secrets.token_hex(8)}{suffix}"


def _staging_path(target: Path) -> Path:
    """Where a file for `target` is written before it is renamed onto it (not created)."""
    return fresh_path(target.parent, f".{target.name}.", ".tmp")


def _create_beside(tmp: Path, target: Path) -> None:
    """Create `tmp`, empty, with the permissions `target` will have."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)   # replacing a file keeps its mode
    except FileNotFoundError:
        mode = new_mode()
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.chmod(tmp, mode)


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`'s target; rename it there only if the block succeeds."""
    target = target_of(path)
    tmp = _staging_path(target)
    try:
        _create_beside(tmp, target)
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


def _probe_place(named: str, place: Path) -> None:
    """InputError (starting with `named`) unless a file can be created in `place` or, when
    it does not exist, in its nearest existing parent (folders are made as needed).

    The folder is probed with a file created and removed at once: as root, `os.access`
    says yes to places no file can go (/proc)."""
    while not place.exists():
        place = place.parent
    if not place.is_dir():
        raise InputError(f"{named}: cannot write there, {place} is not a directory")
    probe = fresh_path(place, ".nbsmt-probe.")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        raise InputError(f"{named}: cannot write there, {place} is not writable") from None
    finally:
        with contextlib.suppress(OSError):   # not created, in a place that is not writable
            probe.unlink()


def _check_writable(label: str, path, target: Path) -> None:
    """InputError unless a file can be created at `target` (folders made as needed)."""
    if target.is_dir():
        raise InputError(f"{label} {str(path)!r}: is a directory")
    _probe_place(f"{label} {str(path)!r}", target.parent)


def check_folder(path) -> None:
    """InputError unless `path` is a folder, or can be made one, where files can be
    written: a cache folder, written during the work, checked before it."""
    named = repr(str(path))
    target = target_of(path)
    if target.exists() and not target.is_dir():
        raise InputError(f"{named}: is a file, not a folder")
    _probe_place(named, target)


def _input_paths(inputs: dict | None) -> list[tuple[str, object]]:
    """(label, path) of every input file: a value is a path, a list of paths, or None."""
    pairs = []
    for label, value in (inputs or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        pairs += [(label, v) for v in values if v is not None]
    return pairs


class OutputSet:
    """Every file one run writes, declared with every file it reads before the work;
    checked now, written later all together (`staging`), all or nothing.

    outputs: {label: path}, the label a flag ("--json") that names it in messages and
    `Stage` calls; a path None is not written. folder: ("--out", DIR, names), report files
    DIR/name each staged under its name and named "name (in --out)" in messages. inputs:
    {flag: path, list of paths or None}, every file the run reads. Raises InputError
    (nothing written, one line naming the flag and the path) for an output that is a
    directory or cannot be created, or that resolves (symlinks and hard links included) to
    an input or to another output.
    """

    def __init__(self, outputs: dict | None = None, inputs: dict | None = None, *,
                 folder: tuple | None = None):
        self.paths: dict[str, object] = {}
        self.names: dict[str, str] = {}                          # how messages call them
        if folder is not None:
            flag, directory, files = folder
            for name in files:
                self.paths[name] = Path(directory) / name
                self.names[name] = f"{name} (in {flag})"
        for label, path in (outputs or {}).items():
            if path is not None:
                self.paths[label], self.names[label] = path, label
        self.targets = {label: target_of(path) for label, path in self.paths.items()}
        seen: dict[str, Path] = {}
        ins = [(flag, path, target_of(path)) for flag, path in _input_paths(inputs)]
        for label, target in self.targets.items():
            name, path = self.names[label], self.paths[label]
            for in_flag, in_path, in_target in ins:
                if _same_file(target, in_target):
                    raise InputError(f"{name} {str(path)!r} is the same file as the input "
                                     f"{in_flag} {str(in_path)!r}")
            for other, other_target in seen.items():
                if _same_file(target, other_target):
                    raise InputError(f"{name} {str(path)!r} is the same file as "
                                     f"{self.names[other]} {str(self.paths[other])!r}")
            _check_writable(name, path, target)
            seen[label] = target

    @contextlib.contextmanager
    def staging(self):
        """Yield a `Stage`; when the block succeeds every staged file replaces its target.

        If the block fails, no target is touched and every temporary file is removed.
        """
        stage = Stage(self)
        try:
            yield stage
            missing = set(self.paths) - set(stage.temps) - stage.skipped
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
        self.skipped: set[str] = set()

    def skip(self, label: str) -> None:
        """Output `label` has nothing to show this run (a plot without data): not written."""
        if (tmp := self.temps.pop(label, None)) is not None:
            tmp.unlink(missing_ok=True)
        self.skipped.add(label)

    def path(self, label: str) -> Path | None:
        """The temporary file to write output `label` to (None when it is not wanted)."""
        if label not in self.outputs.paths:
            return None
        if label not in self.temps:
            target = self.outputs.targets[label]
            # named (and so removed by `staging`) before it exists
            tmp = self.temps[label] = _staging_path(target)
            _create_beside(tmp, target)
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


def folder_outputs(out, names, json_path=None, *, inputs: dict | None = None,
                   flag: str = "--out") -> "OutputSet":
    """A report's files `names` in folder `out` (the folder of flag `flag`), plus an
    optional `--json` copy, against the run's `inputs`: the OutputSet a report command
    declares before its work and writes all or none after it."""
    return OutputSet({"--json": json_path}, inputs, folder=(flag, out, names))
