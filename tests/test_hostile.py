"""Every command against hostile paths and files, cases generated from the parser
(docs/reliability.md, "Hostile inputs").

Each path flag says what it names (`nbsmt.cli.path_flag`: an operand, a timing or energy
report, a Liberty library, an output file or folder, a cache folder). From those tags and
one valid command line per command (`BASES`), this module generates:

- for every output: the output is each input of the run (also through a symlink or a
  hard link; for a report folder, the folder holds the input under one of its report
  names), the output is another output, it cannot be written (/proc, under a file), a
  directory stands where a file goes or a file where a folder goes;
- for every input: missing, a directory, and damaged contents: NaN, Infinity, -1, 0 and
  a string in each number of a valid timing or energy report (where the schema does not
  allow that value), garbage, empty, truncated files; bad cell areas, a bad time unit,
  truncated and garbage Liberty files; NaN, out-of-range, garbage and misshapen operands.

Each case must end before any work (the simulation, synthesis, study, solvers, energy
runs are replaced by functions that fail the test if reached) with exit status 2, one
line on stderr naming the flag or the file, no traceback, nothing on stdout, no file
written or changed anywhere under the test's folder (inputs byte-identical).

CI runs a deterministic sample (every kind of case for every flag of every command, a
few fields of each report); NBSMT_HOSTILE=full (`make soak`) runs every field and value.
Measured (2 shared cores, busy, under nice): 230 cases quick, 5-8 s for the module; 535
full (report folders: every file in turn), 11-15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nbsmt.cli import PATH_ROLES, build_parser, main

FULL = os.environ.get("NBSMT_HOSTILE", "quick") == "full"
OSU_LIBERTY = Path("/usr/share/qflow/tech/osu018/osu018_stdcells.lib")
INPUT_ROLES = ("operand", "workload", "timing-report", "energy-report", "liberty", "model",
               "images")
UNWRITABLE = "/proc/nbsmt-hostile"          # no file can be made there, even as root

# One valid command line per command (and per mode of `sim`): every tagged flag appears
# in one. {KEY} is an input file of `world` (A, W operands; T timing report; E energy
# report; LA, LT Liberty libraries), {out} a folder that does not exist yet.
BASES = {
    "gemm": "gemm --a {A} --w {W} --threads 2 --out {out}/C.npy --stats {out}/S.json",
    "verilog": "verilog --threads 2 --out-dir {out}/v",
    "synth": "synth --pe --threads 1 --flat-check 0 --jobs 1 --liberty {LA} "
             "--pdk {LT} --out {out}/s --json {out}/s.json --cache {out}/cache",
    "sim": "sim --a {A} --w {W} --threads 2 --rows 2 --cols 2 --simulator icarus "
           "--timing {T} --out {out}/C.npy --stats {out}/S.json",
    "sim-network": "sim --network digits --threads 2 --rows 2 --cols 2 --simulator icarus "
                   "--images 1 --out {out}/R.json",
    "eval": "eval --quick --timing {T} --energy {E} --out {out}/ev --json {out}/ev.json",
    "sweep": "sweep --sizes 1 --threads 1 --workers 0 --workload {A},{W} --pdk {LT} --out {out}/sw "
             "--json {out}/sw.json --cache {out}/cache",
    "formal": "formal --set ci --only pe --jobs 1 --out {out}/f",
    "energy": "energy --a {A} --w {W} --threads 1 --pe-only --elements 1 --model zero-delay --pdk {LT} "
              "--rows 1 --jobs 1 --out {out}/e --json {out}/e.json",
    "eval-model": "eval --model {M} --data {X},{Y} --calib 2 --out {out}/m --json {out}/m.json",
    "export": "export digits --quick --out {out}/d.onnx",
}

# What each input file is, by its key in BASES.
KINDS = {"A": "npy-A", "W": "npy-W", "T": "timing", "E": "energy", "LA": "liberty",
         "LT": "liberty", "M": "onnx", "X": "npy-X", "Y": "npy-Y"}

# The work each command starts once its inputs are accepted: (module, class, function).
WORK = [("nbsmt.sim.gemm", None, "golden_gemm"), ("nbsmt.hw.design", "Design", "verilog"),
        ("nbsmt.synth.flow", None, "run_flows"), ("nbsmt.tb.array_sim", None, "run_jobs"),
        ("nbsmt.sim.evaluate", None, "prepare"), ("nbsmt.sim.evaluate", None, "study"),
        ("nbsmt.sweep.run", "Sweep", "run"), ("nbsmt.formal.proofs", None, "run_jobs"),
        ("nbsmt.energy.report", None, "build"), ("nbsmt.models.study", None, "study"),
        ("nbsmt.sim.cnn", None, "train")]


# ----------------------------------------------------------------------------------------
# The parser's path flags


def subparsers() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def path_flags(command: str) -> dict[str, str]:
    """{option string: role} of every tagged flag of `command`."""
    return {option: action.nbsmt_path for action in subparsers()[command]._actions
            if hasattr(action, "nbsmt_path") for option in action.option_strings}


def flags_of(command: str) -> list[str]:
    return [o for action in subparsers()[command]._actions for o in action.option_strings]


LOOKS_LIKE_A_PATH = re.compile(r"^(F|FILE|DIR|LIB|JSON|PATH)$|\.(npy|json|lib|v|md|csv)\b|/")


def test_every_flag_that_names_a_path_is_tagged_and_exercised():
    """A new path flag cannot escape the table: untagged, or in no base command line."""
    untagged, unexercised = [], []
    for command, parser in subparsers().items():
        used = {tok for name, text in BASES.items() if text.split()[0] == command
                for tok in text.split()}
        for action in parser._actions:
            flag = "/".join(action.option_strings)
            role = getattr(action, "nbsmt_path", None)
            assert role is None or role in PATH_ROLES, (command, flag, role)
            text = f"{action.metavar or ''} {action.help or ''}"
            if role is None and (LOOKS_LIKE_A_PATH.search(str(action.metavar or ""))
                                 or re.search(r"\.(npy|json|lib)\b|\b(file|folder|directory)\b",
                                              action.help or "")):
                untagged.append(f"{command} {flag}: {text!r}")
            if role is not None and not used & set(action.option_strings):
                unexercised.append(f"{command} {flag} ({role})")
    assert not untagged, "path-like flags without path_flag(...):\n" + "\n".join(untagged)
    assert not unexercised, "tagged flags no BASES command line uses:\n" + "\n".join(unexercised)


# ----------------------------------------------------------------------------------------
# Valid inputs, and how to damage them


def timing_doc() -> dict:
    """A timing report of the 2x2 1T and 2T arrays (the arrays `sim` runs in BASES)."""
    def record(threads, period):
        return {"name": f"2x2-{threads}t", "design": "array", "size": "2x2", "rows": 2,
                "cols": 2, "threads": threads, "pipeline": 0, "policy_tag": "default",
                "critical_path_ns": period, "fmax_mhz": round(1e3 / period, 3)}
    return {"command": "nbsmt synth", "records": [record(1, 5.0), record(2, 6.5)]}


def energy_doc() -> dict:
    """An energy report of a 2x2 array, 1T and 2T, every action priced."""
    from nbsmt.core.policy import Policy

    def record(threads):
        pe = {k: v for k, v in {"idle": 5.06, "n0": 16.9, "n1": 30.4, "n2": 36.2,
                                "n2-lossy": 54.0}.items() if k == "idle" or int(k[1]) <= threads}
        return {"threads": threads, "model": "zero-delay", "rows": 2, "cols": 2, "pipeline": 0,
                "action_pj": {"pe": pe, "pe_samples": dict.fromkeys(pe, 4),
                              "per_input_beat": 4.5, "per_output_beat": 40.7,
                              "per_cycle_counters_control": 10.0, "clock_per_cycle": 124.0,
                              "leakage_w": 4.8e-07}}
    return {"rows": 2, "cols": 2, "policy": Policy().as_dict(), "pe": [], "sweep": [],
            "gemm": [record(1), record(2)]}


VALID_JSON = {"timing": timing_doc, "energy": energy_doc}
BAD_NUMBERS = ("NaN", "Infinity", "-1", "0", '"garbage"')     # JSON literals

# Values a field's schema allows, so not hostile there: pipeline depth 0 is the default,
# and a measured energy or sample count of 0 is a measurement (non-negative, not positive).
ACCEPTS = [("timing", r"\.pipeline$", {"0"}), ("energy", r"\.pipeline$", {"0"}),
           ("energy", r"\.action_pj\.", {"0"})]


def numeric_leaves(node, where=""):
    """(path keys, dotted name) of every number in a JSON document."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from ((((key,) + p), n) for p, n in
                        numeric_leaves(value, f"{where}.{key}" if where else key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from (((i,) + p, n) for p, n in numeric_leaves(value, f"{where}[{i}]"))
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield (), where


def with_literal(doc: dict, keys: tuple, literal: str) -> bytes:
    """`doc` as JSON text with the value at `keys` replaced by the JSON text `literal`."""
    doc = json.loads(json.dumps(doc))
    node = doc
    for k in keys[:-1]:
        node = node[k]
    node[keys[-1]] = "@@hostile@@"
    return json.dumps(doc, indent=1).replace('"@@hostile@@"', literal).encode()


def json_mutations(kind: str) -> list[tuple[str, object]]:
    """(id, mutation) of a report: every bad number in every field it is bad in, and whole
    files that are not a report. A mutation is bytes, or (keys, literal)."""
    doc = VALID_JSON[kind]()
    text = json.dumps(doc, indent=1).encode()
    out = []
    for keys, name in numeric_leaves(doc):
        for literal in BAD_NUMBERS:
            if any(k == kind and re.search(pattern, "." + name) and literal in ok
                   for k, pattern, ok in ACCEPTS):
                continue
            out.append((f"{name}={literal.strip(chr(34))}", (keys, literal)))
    out += [("garbage-bytes", b"\x00\xff\xfe garbage"), ("empty-file", b""),
            ("truncated", text[: len(text) // 2]), ("not-an-object", b"[]\n")]
    return out


def liberty_mutations() -> list[tuple[str, object]]:
    """(id, function of the valid text giving the damaged bytes) of a Liberty library:
    the area of the gate-equivalent cell NAND2X1, the time unit, the whole file."""
    def area(value):
        return lambda t: re.sub(r"(cell \(NAND2X1\) \{\s*area : )[^;]*;", rf"\g<1>{value};",
                                t, count=1).encode()

    def unit(t):
        return re.sub(r'time_unit : "[^"]*";', 'time_unit : "garbage";', t, count=1).encode()
    return [("area=0", area("0")), ("area=-24", area("-24")), ("area=nan", area("nan")),
            ("area=inf", area("inf")), ("area=garbage", area("garbage")),
            ("time_unit=garbage", unit), ("truncated", lambda t: t[: len(t) // 2].encode()),
            ("garbage-bytes", lambda t: b"\x00\xff\xfe garbage {{{"),
            ("empty-file", lambda t: b"")]


def npy_bytes(array) -> bytes:
    import io
    f = io.BytesIO()
    np.save(f, array)
    return f.getvalue()


def npy_mutations(kind: str) -> list[tuple[str, bytes]]:
    """(id, bytes) of a damaged operand. All-zero operands are valid (nothing to skip), so
    "zero" is no case here; negative is hostile for activations only (weights are signed)."""
    low, high = (0, 255) if kind == "npy-A" else (-128, 127)
    return [("nan", npy_bytes(np.full((4, 6) if kind == "npy-A" else (6, 3), np.nan))),
            ("inf", npy_bytes(np.full((4, 6) if kind == "npy-A" else (6, 3), np.inf))),
            ("below-range", npy_bytes(np.full((4, 6) if kind == "npy-A" else (6, 3), low - 1))),
            ("above-range", npy_bytes(np.full((4, 6) if kind == "npy-A" else (6, 3), high + 1))),
            ("garbage-bytes", b"\x93NUMPY garbage \x00\xff"), ("empty-file", b""),
            ("one-dimensional", npy_bytes(np.arange(6, dtype=np.int8))),
            ("no-elements", npy_bytes(np.zeros((0, 6), dtype=np.int8)))]


def onnx_bytes(*, op: str = "Relu", batch_only_free: bool = True) -> bytes:
    """A small valid model on [N, 1, 8, 8] images (a 3x3 conv, then `op`, 10 classes);
    with an operator nbsmt does not run, or free spatial dimensions, a hostile one."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w = numpy_helper.from_array(rng.standard_normal((10, 1, 8, 8)).astype(np.float32), "w")
    dims = ["N", 1, 8, 8] if batch_only_free else ["N", 1, "H", "W"]
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
         helper.make_node(op, ["c"], ["r"], name="act"),
         helper.make_node("Flatten", ["r"], ["y"], name="flat")],
        "hostile", [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def onnx_mutations() -> list[tuple[str, bytes]]:
    good = onnx_bytes()
    return [("garbage-bytes", b"\x00\xff\xfe garbage"), ("empty-file", b""),
            ("truncated", good[: len(good) // 2]), ("unsupported-operator", onnx_bytes(op="Erf")),
            ("free-dimensions", onnx_bytes(batch_only_free=False))]


def images_mutations(kind: str) -> list[tuple[str, bytes]]:
    """(id, bytes) of damaged images (npy-X) or labels (npy-Y, for 10 classes)."""
    if kind == "npy-X":
        return [("nan", npy_bytes(np.full((6, 1, 8, 8), np.nan, np.float32))),
                ("three-channels", npy_bytes(np.zeros((6, 3, 8, 8), np.float32))),
                ("three-dimensional", npy_bytes(np.zeros((6, 8, 8), np.float32))),
                ("too-few-images", npy_bytes(np.zeros((2, 1, 8, 8), np.float32))),
                ("garbage-bytes", b"\x93NUMPY garbage \x00\xff"), ("empty-file", b"")]
    return [("out-of-range", npy_bytes(np.array([0, 1, 2, 3, 4, 10]))),
            ("negative", npy_bytes(np.array([0, 1, 2, 3, 4, -1]))),
            ("wrong-length", npy_bytes(np.arange(5))),
            ("float-labels", npy_bytes(np.zeros(6, np.float32))),
            ("garbage-bytes", b"\x93NUMPY garbage \x00\xff"), ("empty-file", b"")]


def mutations(kind: str) -> list[tuple[str, object]]:
    if kind in VALID_JSON:
        return json_mutations(kind)
    if kind == "liberty":
        return liberty_mutations()
    if kind == "onnx":
        return onnx_mutations()
    if kind in ("npy-X", "npy-Y"):
        return images_mutations(kind)
    return npy_mutations(kind)


def sample(items: list, k: int, salt: int) -> list:
    """`k` of `items`, spread evenly from an offset `salt`: the deterministic CI subset."""
    if len(items) <= k:
        return items
    step = len(items) / k
    return [items[(salt + int(i * step)) % len(items)] for i in range(k)]


# ----------------------------------------------------------------------------------------
# The cases


@dataclass(frozen=True)
class Case:
    base: str          # key of BASES
    flag: str          # the flag made hostile
    how: str           # what is done to it
    key: str = ""      # the input file concerned (a key of KINDS), or the other output flag
    mutation: object = None

    @property
    def id(self) -> str:
        return "-".join(p for p in (self.base, self.flag.lstrip("-"), self.how, self.key) if p)


def base_argv(base: str) -> list[str]:
    return BASES[base].split()


def value_of(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def input_keys(value: str) -> list[str]:
    return re.findall(r"\{([A-Z]+)\}", value)


def generate() -> list:
    cases = []
    for base in BASES:
        argv = base_argv(base)
        flags = path_flags(argv[0])
        present = [(tok, flags[tok]) for tok in argv[1:] if tok in flags]
        inputs = [(flag, key) for flag, role in present if role in INPUT_ROLES
                  for key in input_keys(value_of(argv, flag))]
        file_outputs = [flag for flag, role in present if role == "output-file"]
        for n, (flag, role) in enumerate(present):
            if role in INPUT_ROLES:
                for key in input_keys(value_of(argv, flag)):
                    cases += [Case(base, flag, "missing", key), Case(base, flag, "directory", key)]
                    found = mutations(KINDS[key])
                    if not FULL:     # every whole-file damage, a spread of the field damages
                        fields = [m for m in found if isinstance(m[1], tuple)]
                        found = [m for m in found if not isinstance(m[1], tuple)] + \
                            sample(fields, 5, salt=7 * n + len(key))
                        if KINDS[key].startswith("npy"):
                            found = sample(found, 4, salt=n)
                    cases += [Case(base, flag, f"content-{name}", key, m) for name, m in found]
                continue
            cases += [Case(base, flag, "is-input", key) for _, key in inputs]
            cases.append(Case(base, flag, "unwritable"))
            if role == "output-file":
                cases += [Case(base, flag, "directory"), Case(base, flag, "under-a-file")]
                cases += [Case(base, flag, how, key) for _, key in inputs
                          for how in ("symlink-to-input", "hard-link-to-input")]
                cases += [Case(base, flag, "is-output", other) for other in file_outputs
                          if other != flag]
            else:                       # a file where the folder goes (not an input)
                cases.append(Case(base, flag, "is-a-file"))
            if role == "output-folder":
                cases.append(Case(base, flag, "file-is-directory"))
                cases += [Case(base, flag, "holds-input", key) for _, key in inputs]
            # a cache folder: entries are made during the work, so there is no fixed file
            # that a directory could stand in place of; is-input (a file) and unwritable.
    return cases


CASES = generate()


def test_case_count():
    """How many cases this run generates (`pytest -s` prints them)."""
    by_base = {b: sum(c.base == b for c in CASES) for b in BASES}
    print(f"\n{len(CASES)} hostile cases ({'full' if FULL else 'quick'}): {by_base}")
    assert len(CASES) == len({c.id for c in CASES})          # ids are unique
    assert all(by_base.values())


# ----------------------------------------------------------------------------------------
# Running them


class WorkStarted(Exception):
    """Raised by the stand-ins of the heavy work: the command accepted its inputs."""


# nbsmt's packages (pyproject.toml: each lives in its own folder, not under nbsmt/).
PACKAGES = ("nbsmt", "nbsmt.commands", "nbsmt.core", "nbsmt.hw", "nbsmt.sim", "nbsmt.host",
            "nbsmt.tb", "nbsmt.synth", "nbsmt.energy", "nbsmt.sweep", "nbsmt.formal",
            "nbsmt.models")
_IMPORTED: list[bool] = []


def import_every_module() -> None:
    """Import all of nbsmt once, before any stand-in is in place: a module first imported
    while one is (e.g. `from nbsmt.sim.gemm import golden_gemm` in nbsmt.energy.pe, imported
    by a command's run) would keep the stand-in after the test, for every later test."""
    import importlib
    import pkgutil

    if _IMPORTED:
        return
    for package in PACKAGES:
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__, package + "."):
            importlib.import_module(info.name)
    _IMPORTED.append(True)


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """The heavy work of every command raises WorkStarted; each OutputSet made is kept
    with the inputs declared to it; the build folder and the working folder are under
    tmp_path."""
    import importlib

    from nbsmt.core import fileio
    import_every_module()
    for module, cls, function in WORK:
        owner = importlib.import_module(module)
        owner = getattr(owner, cls) if cls else owner

        def started(*args, _what=f"{module}.{cls or ''}.{function}", **kwargs):
            raise WorkStarted(_what)
        monkeypatch.setattr(owner, function, started)
    made = []
    real_init = fileio.OutputSet.__init__

    def record(self, outputs=None, inputs=None, **kwargs):
        real_init(self, outputs, inputs, **kwargs)
        made.append((self, [str(p) for _, p in fileio._input_paths(inputs)]))
    monkeypatch.setattr(fileio.OutputSet, "__init__", record)
    monkeypatch.setenv("NBSMT_BUILD_DIR", str(tmp_path / "build"))
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    return made


def make_world(root: Path, base: str) -> dict[str, Path]:
    """The valid inputs of BASES[base] under `root`, by key, and `out` (not created)."""
    files = {"A": root / "in" / "A.npy", "W": root / "in" / "W.npy",
             "T": root / "in" / "timing.json", "E": root / "in" / "energy.json",
             "LA": root / "in" / "area.lib", "LT": root / "in" / "timing.lib",
             "M": root / "in" / "net.onnx", "X": root / "in" / "X.npy", "Y": root / "in" / "Y.npy"}
    files["A"].parent.mkdir(parents=True)
    rng = np.random.default_rng(7)
    np.save(files["A"], rng.integers(0, 256, (4, 6)).astype(np.uint8))
    np.save(files["W"], rng.integers(-128, 128, (6, 3)).astype(np.int8))
    files["T"].write_text(json.dumps(timing_doc(), indent=1))
    files["E"].write_text(json.dumps(energy_doc(), indent=1))
    files["M"].write_bytes(onnx_bytes())
    np.save(files["X"], rng.random((6, 1, 8, 8)).astype(np.float32))
    np.save(files["Y"], np.array([0, 1, 2, 3, 4, 9]))
    for key in set(input_keys(BASES[base])) & {"LA", "LT"}:
        files[key].write_bytes(liberty_bytes())
    return {**files, "out": root / "out"}


_LIBERTY: list[bytes] = []


def liberty_bytes() -> bytes:
    if not _LIBERTY:
        if not OSU_LIBERTY.exists():
            pytest.skip(f"{OSU_LIBERTY} not installed (make setup)")
        _LIBERTY.append(OSU_LIBERTY.read_bytes())
    return _LIBERTY[0]


def argv_of(base: str, paths: dict) -> list[str]:
    return [tok.format(**{k: str(v) for k, v in paths.items()}) for tok in base_argv(base)]


def snapshot(root: Path) -> dict:
    """Every file (bytes) and folder (None) under `root`."""
    return {str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
            for p in sorted(root.rglob("*"))}


def run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:         # argparse's usage errors
        return exc.code


_FOLDER_FILES: dict[tuple[str, str], list[str]] = {}


def folder_files(base: str, flag: str, tmp_path_factory, made: list) -> list[str]:
    """The names of the files `base` writes in its folder `flag`, as its OutputSet declares
    them: from a valid run (in a folder of its own) stopped where its work starts."""
    if (base, flag) not in _FOLDER_FILES:
        world = make_world(tmp_path_factory.mktemp(f"valid-{base}"), base)
        with pytest.raises(WorkStarted):
            run(argv_of(base, world))
        _FOLDER_FILES[(base, flag)] = sorted(label for o, _ in made for label, name in o.names.items()
                                             if name.endswith(f"(in {flag})"))
        made.clear()
        assert _FOLDER_FILES[(base, flag)], f"{base} declares no file in {flag}"
    return _FOLDER_FILES[(base, flag)]


@pytest.mark.parametrize("base", list(BASES))
def test_each_valid_command_line_reaches_its_work(tmp_path, no_work, capsys, base):
    """The control: BASES is valid, so each hostile case is refused for its one change;
    every input it names is declared to its OutputSet (so no output may overwrite it)."""
    world = make_world(tmp_path, base)
    with pytest.raises(WorkStarted):
        run(argv_of(base, world))
    err = capsys.readouterr().err
    assert "error" not in err, err
    declared = {p for _, inputs in no_work for p in inputs}
    for key in input_keys(BASES[base]):
        assert str(world[key]) in declared, f"{base}: input {key} is not declared to OutputSet"


def prepare(case: Case, root: Path, choice: int, tmp_path_factory, made) -> tuple:
    """A world under `root` with `case` made hostile: (argv, the flag and paths one of
    which the error line must name). `choice`: which file of a report folder."""
    world = make_world(root, case.base)
    paths = dict(world)
    argv = argv_of(case.base, paths)
    flag = case.flag
    if case.how == "missing":
        paths[case.key] = root / "in" / f"missing-{world[case.key].name}"
        return argv_of(case.base, paths), [flag, str(paths[case.key])]
    if case.how == "directory" and case.key:
        paths[case.key] = root / "in" / "a-folder"
        paths[case.key].mkdir()
        return argv_of(case.base, paths), [flag, str(paths[case.key])]
    if case.how.startswith("content-"):
        target, m = world[case.key], case.mutation
        if callable(m):
            data = m(target.read_text())
        elif isinstance(m, tuple):
            data = with_literal(VALID_JSON[KINDS[case.key]](), *m)
        else:
            data = m
        target.write_bytes(data)
        return argv, [flag, str(target)]
    i = argv.index(flag) + 1
    if case.how == "is-input":
        argv[i] = str(world[case.key])
    elif case.how == "under-a-file":          # a path through a file, not a folder
        argv[i] = str(world["A"] / Path(argv[i]).name)
    elif case.how in ("symlink-to-input", "hard-link-to-input"):
        Path(argv[i]).parent.mkdir(parents=True, exist_ok=True)
        link = os.symlink if case.how.startswith("symlink") else os.link
        link(world[case.key], argv[i])
    elif case.how == "is-output":
        argv[i] = value_of(argv, case.key)
    elif case.how == "unwritable":
        argv[i] = f"{UNWRITABLE}/{Path(argv[i]).name}"
    elif case.how == "directory":
        Path(argv[i]).mkdir(parents=True)
    elif case.how == "is-a-file":
        Path(argv[i]).parent.mkdir(parents=True, exist_ok=True)
        Path(argv[i]).write_text("a file, not a folder\n")
    elif case.how in ("file-is-directory", "holds-input"):
        place = Path(argv[i]) / folder_files(case.base, flag, tmp_path_factory, made)[choice]
        place.parent.mkdir(parents=True, exist_ok=True)
        if case.how == "file-is-directory":
            place.mkdir()
        else:
            place.write_bytes(world[case.key].read_bytes())
            paths[case.key] = place
            argv = argv_of(case.base, paths)
    return argv, [flag, argv[i]]


def choices(case: Case, tmp_path_factory, made) -> list[int]:
    """Which files of a report folder a folder case tries: each (full), one (quick)."""
    if case.how not in ("file-is-directory", "holds-input"):
        return [0]
    count = len(folder_files(case.base, case.flag, tmp_path_factory, made))
    return list(range(count)) if FULL else [len(case.id) % count]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_case_is_refused_before_any_work(tmp_path, tmp_path_factory, no_work, capsys,
                                                  case):
    for choice in choices(case, tmp_path_factory, no_work):
        root = tmp_path / f"world-{choice}"
        argv, names = prepare(case, root, choice, tmp_path_factory, no_work)
        capsys.readouterr()
        before = snapshot(tmp_path)
        try:
            status = run(argv)
        except WorkStarted as exc:
            pytest.fail(f"the work started ({exc}): nbsmt {' '.join(argv)}")
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert status == 2 and len(lines) == 1, (status, err[-3000:], argv)
        assert "Traceback" not in err and not out, (out, err)
        assert any(n in lines[0] for n in names), (lines[0], names)
        named = set(re.findall(r"(?<![\w/-])--[a-z][a-z0-9-]*", lines[0]))
        assert named <= set(flags_of(argv[0])), f"names a flag {argv[0]} does not have: {lines[0]}"
        assert snapshot(tmp_path) == before, f"a file was written, changed or removed: {argv}"
