"""Reports one command writes and another reads (the timing report of `nbsmt synth`, the
energy report of `nbsmt energy`): strict reading and the pieces of their schemas.

Each report is checked where it is loaded, against one schema per report
(`nbsmt.sim.clocks.check_timing_report`, `nbsmt.energy.report.check_energy_report`); every
error is one InputError naming the file and the field, e.g. "'build/synth/timing.json':
records[3].critical_path_ns must be a finite positive number, not nan"
(docs/reliability.md).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from nbsmt.core.errors import InputError


def existing_report(path, flag: str | None = None) -> Path | None:
    """`path` when the file exists; None for a default report that does not (the run goes
    on without it), InputError for one the user named with `flag`."""
    path = Path(path)
    if path.exists():
        return path
    if flag is not None:
        raise InputError(f"{flag}: no such file: {str(path)!r}")
    return None


def read_report_json(path):
    """The JSON document of the report `path` (InputError if it cannot be read or parsed).
    Python's json reads NaN, Infinity and out-of-range numbers (1e999) as non-finite floats;
    `check_report_finite` rejects them, naming the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{str(path)!r}: not valid JSON (not UTF-8: {exc.reason})") from None
    except OSError as exc:
        raise InputError(f"{str(path)!r}: cannot read it: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(f"{str(path)!r}: not valid JSON (nested too deeply)") from None
    except ValueError as exc:
        raise InputError(f"{str(path)!r}: not valid JSON ({exc})") from None


def report_at(where: str, key) -> str:
    """The name of a field in a report's messages: records[3].critical_path_ns."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    if not re.fullmatch(r"[A-Za-z_][\w-]*", key):     # a key of the file: one line, quoted
        return f"{where}[{key!r}]"
    return f"{where}.{key}" if where else key


def report_error(path, where: str, problem: str) -> InputError:
    return InputError(f"{str(path)!r}: {where or 'the report'} {problem}")


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def shown(value) -> str:
    """A value as a message shows it: JSON words for true/false/null, the kind of a list or
    object, repr otherwise (cut to 40 characters)."""
    if isinstance(value, (dict, list)):
        return _kind(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def report_field(obj: dict, key: str, path, where: str):
    """obj[key] of the object at `where` (InputError naming the missing field)."""
    if key not in obj:
        raise report_error(path, where, f"has no {key}")
    return obj[key]


def report_object(value, path, where: str, what: str = "an object") -> dict:
    if not isinstance(value, dict):
        raise report_error(path, where, f"must be {what}, not {_kind(value)}")
    return value


def report_list(value, path, where: str) -> list:
    if not isinstance(value, list):
        raise report_error(path, where, f"must be a list, not {_kind(value)}")
    return value


def _finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:           # an integer beyond the float range
        return False


def report_number(value, path, where: str, *, positive: bool = False) -> float:
    """A finite number (> 0 if `positive`, else >= 0), as a float."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)
    if not ok or value < 0 or (positive and value == 0):
        need = "a finite positive number" if positive else "a finite number >= 0"
        raise report_error(path, where, f"must be {need}, not {shown(value)}")
    return float(value)


def report_int(value, path, where: str, low: int, high: int | None = None) -> int:
    if type(value) is not int or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f">= {low}"
        raise report_error(path, where, f"must be an integer {span}, not {shown(value)}")
    return value


def report_choice(value, path, where: str, choices: tuple):
    """One of `choices` (all of one type: 2.0 or true is not the thread count 2 or 1)."""
    if type(value) is not type(choices[0]) or value not in choices:
        raise report_error(path, where, f"must be one of {', '.join(map(shown, choices))}, "
                                        f"not {shown(value)}")
    return value


def check_report_finite(doc, path) -> None:
    """Every number of the report is finite: strict JSON, as nbsmt writes it."""
    stack = [("", doc)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((report_at(where, k), v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((report_at(where, i), v) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, float) and not math.isfinite(value):
            raise report_error(path, where, f"must be a finite number, not {shown(value)}")
