"""Cell areas from a Liberty file, and the NAND2 cell that defines a gate equivalent.

Yosys maps onto the library; the report then needs each cell's area and a reference
cell: GE = area / area(smallest 2-input NAND). For a user's PDK the NAND2 is found by
its boolean function, not its name (names differ between vendors); when there is none
the report gives um^2 only. Only cell names, areas, pins and functions are read.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import re
from pathlib import Path

DEFAULT_LIBERTY = Path(__file__).resolve().parent / "cells" / "nbsmt45.lib"

_CELL_RE = re.compile(r"\bcell\s*\(\s*\"?([^\s\")]+)\"?\s*\)\s*\{")
_PIN_RE = re.compile(r"\bpin\s*\(\s*\"?([^\s\")]+)\"?\s*\)\s*\{")
_AREA_RE = re.compile(r"^\s*area\s*:\s*([-+0-9.eE]+)\s*;", re.M)


class LibertyError(ValueError):
    """The file is not a Liberty library this flow can use."""


@dataclasses.dataclass(frozen=True)
class Library:
    path: Path
    areas: dict[str, float]          # cell name -> area (library units, um^2 here)
    nand2: str | None                # reference cell for gate equivalents
    sequential: frozenset[str]       # cells with an ff or latch group
    digest: str = ""                 # sha256 of the file's bytes (keys the synthesis cache)

    @property
    def nand2_area(self) -> float | None:
        return self.areas[self.nand2] if self.nand2 else None


def _block(text: str, start: int) -> str:
    """The text of the `{...}` group whose opening brace is at text[start-1]."""
    depth, i = 1, start
    while depth and i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1
    return text[start:i - 1]


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def _evaluate(expr: str, values: dict[str, bool]) -> bool:
    """Liberty boolean function: ! and postfix ' negate, & * or juxtaposition AND, | + OR, ^ XOR."""
    tokens = re.findall(r"[A-Za-z_][\w\[\]]*|[01]|[!'&*|+^()]", expr)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def primary():
        tok = take()
        if tok == "!":
            value = not primary()
        elif tok == "(":
            value = disjunction()
            if take() != ")":
                raise LibertyError(f"unbalanced function {expr!r}")
        elif tok in ("0", "1"):
            value = tok == "1"
        elif tok in values:
            value = values[tok]
        else:
            raise LibertyError(f"unknown name {tok!r} in function {expr!r}")
        while peek() == "'":
            take()
            value = not value
        return value

    def conjunction():
        value = primary()
        while peek() not in (None, "|", "+", "^", ")"):
            if peek() in ("&", "*"):
                take()
            value = primary() and value
        return value

    def xor():
        value = conjunction()
        while peek() == "^":
            take()
            value = conjunction() != value
        return value

    def disjunction():
        value = xor()
        while peek() in ("|", "+"):
            take()
            value = xor() or value
        return value

    result = disjunction()
    if pos != len(tokens):
        raise LibertyError(f"cannot parse function {expr!r}")
    return result


def _is_nand2(cell_body: str) -> bool:
    inputs, functions = [], []
    for match in _PIN_RE.finditer(cell_body):
        pin = _block(cell_body, match.end())
        direction = re.search(r"direction\s*:\s*\"?(\w+)", pin)
        function = re.search(r"function\s*:\s*\"([^\"]*)\"", pin)
        if direction and direction.group(1) == "input":
            inputs.append(match.group(1))
        elif direction and direction.group(1) == "output" and function:
            functions.append(function.group(1))
    if len(inputs) != 2 or len(functions) != 1 or re.search(r"\b(ff|latch|statetable)\s*\(", cell_body):
        return False
    try:
        return all(_evaluate(functions[0], dict(zip(inputs, bits))) == (not all(bits))
                   for bits in itertools.product((False, True), repeat=2))
    except (LibertyError, IndexError):
        return False


def load_library(path) -> Library:
    """Read cell areas and find the NAND2 reference of the Liberty file at `path`."""
    path = Path(path)
    try:
        text = _strip_comments(path.read_text(errors="replace"))
    except OSError as exc:
        raise LibertyError(f"cannot read liberty file {str(path)!r}: {exc.strerror or exc}") from None
    if not re.search(r"\blibrary\s*\(", text):
        raise LibertyError(f"{str(path)!r} is not a Liberty library (no 'library (...)' group)")
    areas: dict[str, float] = {}
    sequential: set[str] = set()
    nand2: str | None = None
    for match in _CELL_RE.finditer(text):
        body = _block(text, match.end())
        # the cell's own area attribute: outside its nested groups
        flat = re.sub(r"\{[^{}]*\}", "", body)
        while "{" in flat:
            flat = re.sub(r"\{[^{}]*\}", "", flat)
        area = _AREA_RE.search(flat)
        if area is None:
            continue
        name, value = match.group(1), float(area.group(1))
        areas[name] = value
        if re.search(r"\b(ff|latch|ff_bank|latch_bank)\s*\(", body):
            sequential.add(name)
        if _is_nand2(body) and (nand2 is None or value < areas[nand2]):
            nand2 = name
    if not areas:
        raise LibertyError(f"{str(path)!r} has no cells with an area")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Library(path.resolve(), areas, nand2, frozenset(sequential), digest)
