"""Yosys to SMT-LIB, and a Bitwuzla unrolling of it (no SymbiYosys, no solver binary).

Yosys writes the flattened design with `write_smt2 -stbv`: a state is one bit-vector,
`|top_t| s s'` is the transition relation, `|top_i| s` the initial values and
`|top_n port| s` a port's value. The PyPI `bitwuzla` package (Python bindings only)
parses that text, `Unrolling` declares states s0..sk chained by `|top_t|`, and each
check is one `check_sat` under an assumption, so one solver instance answers every
step and every property incrementally. A state s0 that is not constrained by `|top_i|`
is an arbitrary state: every register holds any value.

Facts this relies on (docs/formal.md): Amaranth marks each generated top module with
`(* top = 1 *)`, which must be unset before `hierarchy` picks the harness; `dffunmap`
turns enable/reset flip-flops into plain ones, the only kind `write_smt2` accepts.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
import time
from pathlib import Path

from nbsmt.synth.yosys import run_script



class FormalError(RuntimeError):
    """The flow itself failed (Yosys error, unknown port): not a property violation."""


@dataclasses.dataclass(frozen=True)
class Design:
    """SMT-LIB text of a flattened design and the widths of its top's ports."""

    top: str
    smt2: str
    inputs: dict[str, int]
    outputs: dict[str, int]
    registers: dict[str, tuple[int, ...]]   # "a.b.reg" -> its state slices' smt indices

    def width(self, port: str) -> int:
        try:
            return {**self.inputs, **self.outputs}[port]
        except KeyError:
            raise FormalError(f"{self.top} has no port {port!r}") from None


def yosys_script(files: list[str], top: str) -> str:
    return "\n".join([
        "read_verilog -sv " + " ".join(files),
        "setattr -mod -unset top",
        f"hierarchy -check -top {top}",
        "proc",
        "flatten",
        "opt -fast",
        "dffunmap",
        "write_smt2 -stbv design.smt2",
        "",
    ])


def compile_design(sources: dict[str, str], top: str) -> Design:
    """Run Yosys on `sources` ({file name: Verilog text}) and return the SMT-LIB of `top`."""
    with tempfile.TemporaryDirectory(prefix="nbsmt-formal-") as tmp:
        work = Path(tmp)
        for name, text in sources.items():
            (work / name).write_text(text)
        (work / "formal.ys").write_text(yosys_script(list(sources), top))
        proc, problem = run_script(work, "formal.ys")
        if proc.returncode != 0:
            raise FormalError(f"yosys failed on {top}: {problem}")
        smt2 = (work / "design.smt2").read_text()
    ports = {kind: {m[1]: int(m[2]) for m in
                    re.finditer(rf"^; yosys-smt2-{kind} (\S+) (\d+)$", smt2, re.M)}
             for kind in ("input", "output")}
    registers: dict[str, list[int]] = {}
    for m in re.finditer(r"^; yosys-smt2-witness (\{.*\})$", smt2, re.M):
        entry = json.loads(m[1])
        if entry["type"] == "reg":
            path = ".".join(part.removeprefix("\\") for part in entry["path"])
            registers.setdefault(path, []).append(entry["smtname"])
    return Design(top, smt2, ports["input"], ports["output"],
                  {k: tuple(sorted(set(v))) for k, v in registers.items()})


def _state(step: int | str) -> str:
    return f"s{step}" if isinstance(step, int) else step


class Unrolling:
    """States s0..sk of `design` chained by its transition relation, in one Bitwuzla.

    initial: constrain s0 to the registers' initial values (a BMC from reset); else s0
        is any state. The harness's reset input is held low and its 1-bit `assume_*`
        outputs (input constraints) true in every state.
    time_limit: seconds per check (None: no limit); a check over it answers None.
    """

    def __init__(self, design: Design, *, initial: bool, time_limit: float | None = None):
        import bitwuzla as bz

        self._bz = bz
        self.design = design
        options = bz.Options()
        options.set(bz.Option.PRODUCE_MODELS, True)
        if time_limit is not None:
            options.set(bz.Option.TIME_LIMIT_PER, int(time_limit * 1000))
        self._tm = bz.TermManager()
        self._parser = bz.Parser(self._tm, options)
        self._parser.parse(design.smt2, True, False)
        self._solver = self._parser.bitwuzla()
        self._names = 0
        self.steps = -1
        self._add_state()
        if initial:
            self._assert(f"(|{design.top}_i| s0)")

    # -- building -------------------------------------------------------------------

    def _parse(self, text: str) -> None:
        self._parser.parse(text, True, False)

    def _assert(self, expr: str) -> None:
        self._parse(f"(assert {expr})")

    def _add_state(self) -> None:
        top, k = self.design.top, self.steps + 1
        self._parse(f"(declare-const s{k} |{top}_s|)")
        self._assert(f"(|{top}_h| s{k})")
        if "rst" in self.design.inputs:
            self._assert(f"(not {self.port('rst', k)})")
        for name in self.design.outputs:   # the harness's input constraints
            if name.startswith("assume_"):
                self._assert(self.port(name, k))
        if k > 0:
            self._assert(f"(|{top}_t| s{k - 1} s{k})")
        self.steps = k

    def extend(self, steps: int) -> None:
        """Unroll until states s0..s`steps` exist."""
        while self.steps < steps:
            self._add_state()

    def port(self, name: str, step: int | str) -> str:
        """SMT-LIB expression of port `name` in state s`step` (or the state named `step`);
        Bool if the port is 1 bit wide."""
        self.design.width(name)
        return f"(|{self.design.top}_n {name}| {_state(step)})"

    def term(self, expr: str, width: int | None = None):
        """A solver term equal to `expr` (Bool when width is None), for checks and values."""
        self._names += 1
        name = f"nbsmt_t{self._names}"
        sort = "Bool" if width is None else f"(_ BitVec {width})"
        self._parse(f"(declare-const {name} {sort}) (assert (= {name} {expr}))")
        return next(t for t in self._parser.get_declared_funs() if t.symbol() == name)

    def registers_equal(self, prefix: str, step_a: int | str, step_b: int | str,
                        exclude: tuple[str, ...] = ()) -> str:
        """SMT-LIB: every register whose path starts with `prefix`, and with none of
        `exclude`, is equal in both states."""
        top = self.design.top
        a, b = _state(step_a), _state(step_b)
        terms = [f"(= (|{top}#{i}| {a}) (|{top}#{i}| {b}))"
                 for path, indices in self.design.registers.items()
                 if path.startswith(prefix) and not path.startswith(exclude) for i in indices]
        if not terms:
            raise FormalError(f"{top} has no register under {prefix!r}")
        return f"(and true {' '.join(terms)})"

    def twin(self, step: int, free_inputs) -> tuple[str, str]:
        """A second copy of state s`step` and its successor, named ("twin{step}",
        "twin{step}_next"): the same registers and inputs except `free_inputs`."""
        top = self.design.top
        a, b = f"twin{step}", f"twin{step}_next"
        self._parse(f"(declare-const {a} |{top}_s|) (declare-const {b} |{top}_s|)")
        self._assert(f"(and (|{top}_h| {a}) (|{top}_h| {b}) (|{top}_t| {a} {b}))")
        self._assert(self.registers_equal("", step, a))
        for name in self.design.inputs:
            if name not in free_inputs:
                self._assert(f"(= {self.port(name, step)} {self.port(name, a)})")
        for state in (a, b):
            if "rst" in self.design.inputs:
                self._assert(f"(not {self.port('rst', state)})")
            for name in self.design.outputs:
                if name.startswith("assume_"):
                    self._assert(self.port(name, state))
        return a, b

    def port_term(self, name: str, step: int):
        width = self.design.width(name)
        return self.term(self.port(name, step), None if width == 1 else width)

    def assume(self, expr: str) -> None:
        """Constrain every later check (e.g. a proven property, or a proof's case split)."""
        self._assert(expr)

    # -- solving --------------------------------------------------------------------

    def check(self, condition) -> tuple[bool | None, float, float]:
        """(whether `condition` (a Bool term) can hold, wall seconds, CPU seconds); None if
        out of time. On a machine shared with other work the CPU seconds are what the
        check costs: the solver is single-threaded and runs in this process."""
        start, cpu = time.monotonic(), time.process_time()
        result = self._solver.check_sat(condition)
        seconds, cpu = time.monotonic() - start, time.process_time() - cpu
        if result == self._bz.Result.SAT:
            return True, seconds, cpu
        if result == self._bz.Result.UNSAT:
            return False, seconds, cpu
        return None, seconds, cpu

    def value(self, term) -> int | bool:
        """A term's value in the last satisfying check (bit-vectors as unsigned ints)."""
        v = self._solver.get_value(term)
        if v.sort().is_bool():
            return bool(v.value())
        return int(v.value(2), 2)
