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
# Amaranth names ports of plain-signal submodule boundaries `port$<id>$<k>`, ids global.
_PORT_RE = re.compile(r"port\$(\d+)\$(\d+)")
# A named connection to a `port$N$K` port: `.\port$N$K (`.
_CONNECTION_RE = re.compile(r"\.\\(port\$\d+\$\d+) ")
# One instance: its type line through the closing `);`.
_BLOCK_END = "\n  );"


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


def _port_ids(text: str) -> list[str]:
    """The distinct `port$N$K` names of a module text, in numeric order."""
    found = {m.group(0): (int(m.group(1)), int(m.group(2))) for m in _PORT_RE.finditer(text)}
    return sorted(found, key=found.get)


def _header_ports(text: str) -> list[str]:
    """The `port$N$K` names in a module's port list, in numeric order."""
    header = text[_MODULE_RE.search(text).end():text.index(");")]
    return _port_ids(header)


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
        rank = {name: f"port#{k}" for k, name in enumerate(_port_ids(text))}
        text = _PORT_RE.sub(lambda m: rank[m.group(0)], text)
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

    header = {name: _header_ports(m.text) for name, m in modules.items()}
    kept: dict[str, Module] = {}
    for name, module in modules.items():
        if representative.get(name) != name:
            continue
        kept[name] = Module(name, _point_instances(module.text, modules, representative, header),
                            [(representative[t], i) for t, i in module.instances])

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


def _point_instances(text: str, modules: dict[str, Module], representative: dict[str, str],
                     header: dict[str, list[str]]) -> str:
    """`text` with each instance of a merged module pointed at its representative.

    The representative's `port$N$K` port names differ from the copy's; connections are
    renamed by rank (copies number their ports in the same order).
    """
    out, pos = [], 0
    for match in _INSTANCE_RE.finditer(text):
        kind = match.group(2)
        if kind not in modules or representative.get(kind, kind) == kind:
            continue
        rep = representative[kind]
        end = text.index(_BLOCK_END, match.end())
        rename = dict(zip(header[kind], header[rep]))
        if len(header[kind]) != len(header[rep]):
            raise ValueError(f"merged modules {kind} and {rep} differ in their ports")
        block = _CONNECTION_RE.sub(lambda m: f".\\{rename.get(m.group(1), m.group(1))} ",
                                   text[match.end():end])
        out.append(text[pos:match.start()])
        out.append(f"{match.group(1)}{rep}{match.group(3)}{match.group(4)} (")
        out.append(block)
        pos = end
    out.append(text[pos:])
    return "".join(out)


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
