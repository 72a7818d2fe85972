"""The module hierarchy of generated Verilog, with identical modules merged.

Amaranth writes one Verilog module per submodule *instance*, so an R x C array carries
R*C copies of the PE. Synthesizing them all means R*C identical ABC runs (or one huge
flat one). Here each module gets a content hash that ignores its own name and names its
children by their hashes; modules with equal hashes are the same circuit, instances are
pointed at one representative, and the copies are dropped. Yosys then synthesizes each
distinct module once and `stat` multiplies by the instance counts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

# `module NAME(` -- NAME is a plain or an escaped (backslash ... whitespace) identifier.
_MODULE_RE = re.compile(r"^module\s+(\\\S+|[A-Za-z_][\w$]*)\s*\(", re.M)
# An instance line as Amaranth writes it: `  TYPE  NAME (` alone on its line.
_INSTANCE_RE = re.compile(r"^(\s+)(\\\S+|[A-Za-z_][\w$]*)(\s+)(\\\S+|[A-Za-z_][\w$]*)\s*\($", re.M)
# Global counters in backend-made names differ between otherwise identical modules.
_COUNTER_RE = re.compile(r"(dump_module)\$\d+")


def clean_name(name: str) -> str:
    """A Verilog identifier without its escape backslash (Yosys reports it that way)."""
    return name[1:] if name.startswith("\\") else name


@dataclasses.dataclass
class Module:
    name: str                          # as written in the Verilog, escapes included
    text: str                          # attributes + module ... endmodule
    instances: list[tuple[str, str]]   # (module type, instance name) of known modules


def parse_modules(verilog: str) -> dict[str, Module]:
    """Split Verilog into its modules (in file order) with their submodule instances."""
    chunks = verilog.split("endmodule")
    modules: dict[str, Module] = {}
    for chunk in chunks[:-1]:
        match = _MODULE_RE.search(chunk)
        if match is None:
            raise ValueError("cannot find a module header in the generated Verilog")
        body = chunk.lstrip("\n")
        modules[match.group(1)] = Module(match.group(1), body + "endmodule\n", [])
    for module in modules.values():
        module.instances = [(m.group(2), m.group(4)) for m in _INSTANCE_RE.finditer(module.text)
                            if m.group(2) in modules]
    return modules


def find_top(modules: dict[str, Module]) -> str:
    """The one module nobody instantiates."""
    used = {t for m in modules.values() for t, _ in m.instances}
    tops = [n for n in modules if n not in used]
    if len(tops) != 1:
        raise ValueError(f"expected one top module, found {len(tops)}: {tops[:4]}")
    return tops[0]


def _content_hashes(modules: dict[str, Module], top: str) -> dict[str, str]:
    hashes: dict[str, str] = {}

    def visit(name: str) -> str:
        if name in hashes:
            return hashes[name]
        module = modules[name]
        text = module.text
        for child, _ in module.instances:
            visit(child)
        # Replace own and child type names by placeholders/hashes on a token basis.
        def rename(match: re.Match) -> str:
            kind = match.group(2)
            if kind in modules:
                return f"{match.group(1)}<{hashes[kind]}>{match.group(3)}{match.group(4)} ("
            return match.group(0)
        text = _INSTANCE_RE.sub(rename, text)
        text = _MODULE_RE.sub("module <self>(", text, count=1)
        text = _COUNTER_RE.sub(r"\1$", text)
        text = re.sub(r"\(\* top = +1 +\*\)\n", "", text)
        hashes[name] = hashlib.sha256(text.encode()).hexdigest()[:16]
        return hashes[name]

    visit(top)
    return hashes


@dataclasses.dataclass
class Hierarchy:
    """Deduplicated design: Verilog with one copy per distinct module, and counts."""

    top: str
    verilog: str
    modules: dict[str, Module]          # the representatives only
    counts: dict[str, int]              # instances of each representative in the whole tree
    merged: dict[str, str]              # every original module name -> its representative

    def children(self, name: str) -> list[tuple[str, str]]:
        return self.modules[name].instances


def deduplicate(verilog: str) -> Hierarchy:
    """Merge identical modules of `verilog` (see module docstring)."""
    modules = parse_modules(verilog)
    top = find_top(modules)
    hashes = _content_hashes(modules, top)
    representative: dict[str, str] = {}
    first_of_hash: dict[str, str] = {}
    for name in modules:                       # file order: the first copy represents
        if name in hashes:
            representative[name] = first_of_hash.setdefault(hashes[name], name)

    kept: dict[str, Module] = {}
    for name, module in modules.items():
        if representative.get(name) != name:
            continue

        def point(match: re.Match) -> str:
            kind = match.group(2)
            if kind in representative:
                kind = representative[kind]
            return f"{match.group(1)}{kind}{match.group(3)}{match.group(4)} ("
        text = _INSTANCE_RE.sub(point, module.text)
        kept[name] = Module(name, text, [(representative[t], i) for t, i in module.instances])

    # Instances of each module in the whole tree, accumulated parents-first.
    per_parent: dict[str, dict[str, int]] = {}
    for name, module in kept.items():
        tally: dict[str, int] = {}
        for child, _ in module.instances:
            tally[child] = tally.get(child, 0) + 1
        per_parent[name] = tally
    order = _topological(kept, top)
    counts = {n: 0 for n in kept}
    counts[top] = 1
    for name in order:
        for child, k in per_parent[name].items():
            counts[child] += counts[name] * k
    text = "".join(kept[n].text + "\n" for n in kept)
    return Hierarchy(top, text, kept, counts, representative)


def _topological(modules: dict[str, Module], top: str) -> list[str]:
    """Parents before children."""
    seen: set[str] = set()
    post: list[str] = []

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        for child, _ in modules[name].instances:
            visit(child)
        post.append(name)

    visit(top)
    return post[::-1]
