"""The proof matrix: what `make formal` and `nbsmt formal` run, in parallel, with reports.

Five kinds of job, each a plain `Job` that a worker process turns into a `Result`:
- "pe": one cycle of the generated PE against `ReferencePE` from any state, for all
  operands, en and last (optionally one case of the reference's collision count n);
- "pe-step": the PE's registers over `depth` cycles from any state;
- "pe-pipeline": a pipelined PE against the single-cycle one, latency accounted for, on
  every input sequence of `depth` cycles from reset;
- "array": bounded model check of an R x C array's stream properties from reset to
  `depth` cycles, and the first cycle each cover is reached;
- "array-step": the array's one-cycle properties for one transition from any state.
A job with a `mutant` runs on a mutated copy of the PE Verilog and is expected to fail
with a counterexample.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import time

from nbsmt.core.policy import Policy
from nbsmt.core.pool import WorkerPool

#: The policies the proofs cover, by the names reports use: every value of every knob
#: (tests/test_policy_coverage.py).
POLICIES = {
    "default": Policy(),
    "authors": Policy.authors(),
    "windows3": Policy(windows=3),
    "windows5": Policy(windows=5),
    "trunc": Policy(rounding="trunc"),
}

#: Cycles of the register proof from an arbitrary state.
PE_STEP_DEPTH = 3

#: Cycles from reset of the pipelined-PE equivalence (a tile of several K-steps, its
#: hand-off and the next tile's start, at pipeline depth 2; CI uses fewer).
PIPELINE_DEPTH = 8

#: Seconds per solver check a time limit may be: Bitwuzla takes it as a whole number of
#: milliseconds (`TIME_LIMIT_PER`, formal/smt.py), where 0 means "no limit"; infinity
#: cannot be converted and a limit under 1 ms would become 0.
TIME_LIMIT_RANGE = (1, 1_000_000)


def check_time_limit(seconds, flag: str = "--timeout") -> float | None:
    """A solver time limit in seconds within TIME_LIMIT_RANGE, or None (no limit);
    InputError otherwise."""
    from nbsmt.core.errors import InputError

    if seconds is None:
        return None
    low, high = TIME_LIMIT_RANGE
    number = isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
    if number and not seconds > 0:       # 0, negatives, NaN
        raise InputError(f"{flag} must be positive, not {seconds!r}")
    if not number or not low <= seconds <= high:     # infinity, 0.0001 s, 1e7 s, strings
        raise InputError(f"{flag} must be a number of seconds from {low} to {high}, not {seconds!r}")
    return float(seconds)
CI_PIPELINE_DEPTH = 5

#: Arrays of the stream checks (rows, cols, threads) and the BMC depth each reaches.
ARRAYS = ((2, 2, 2), (3, 2, 2))
ARRAY_DEPTH = 40
CI_ARRAY_DEPTH = 20

#: The 4T collision counts (active lanes n) the CI subset proves, each as its own job:
#: n = 0, 1, 2 take about 0, 27 and 27 s of solver CPU; n = 3 and 4 (about 125 s
#: together) are left to `make formal`, which proves the 4T PE unsplit.
CI_T4_CASES = (0, 1, 2)

#: The mutants the CI subset runs (each answers in seconds).
CI_MUTANTS = ("rounding_tie", "no_clear", "early_control")


@dataclasses.dataclass(frozen=True)
class Job:
    kind: str                   # "pe", "pe-step", "array" or "array-step"
    threads: int
    policy: str = "default"     # a key of POLICIES
    mutant: str | None = None   # a key of nbsmt.formal.mutants.MUTANTS
    case: int | None = None     # "pe" only: prove only cycles with n active lanes
    rows: int = 0               # "array" only
    cols: int = 0
    depth: int = 0              # "pe-step", "pe-pipeline", "array": cycles unrolled
    pipeline: int = 0           # "pe-pipeline": the pipelined PE's depth
    isolate: bool = False       # "pe": the PE with operand isolation

    @property
    def name(self) -> str:
        if self.kind == "array":
            base = f"array {self.rows}x{self.cols} T{self.threads} depth {self.depth}"
        elif self.kind == "array-step":
            base = f"array-step {self.rows}x{self.cols} T{self.threads}"
        elif self.kind == "pe-pipeline":
            base = f"pe-pipeline T{self.threads} P{self.pipeline} depth {self.depth}"
        else:
            base = f"{self.kind} T{self.threads} {self.policy}"
        if self.isolate:
            base += " isolated"
        if self.case is not None:
            base += f" n={self.case}"
        if self.mutant:
            base += f" mutant {self.mutant}"
        return base

    @property
    def expect(self) -> str:
        return "failed" if self.mutant else "proven"


@dataclasses.dataclass
class Result:
    job: Job
    status: str                  # "proven", "failed" or "unknown" (out of time)
    seconds: float               # solver wall time
    compile_seconds: float       # Amaranth + Yosys, wall time
    cpu_seconds: float = 0.0     # solver CPU time (the wall time on an idle machine)
    counterexample: str = ""
    covers: dict = dataclasses.field(default_factory=dict)   # cover -> first cycle, or None
    checks: int = 0

    @property
    def as_expected(self) -> bool:
        covered = all(v is not None for v in self.covers.values())
        return self.status == self.job.expect and (self.status != "proven" or covered)

    def as_dict(self) -> dict:
        return {"name": self.job.name, **dataclasses.asdict(self.job), "expect": self.job.expect,
                "status": self.status, "as_expected": self.as_expected,
                "solver_seconds": round(self.seconds, 2),
                "solver_cpu_seconds": round(self.cpu_seconds, 2),
                "compile_seconds": round(self.compile_seconds, 2),
                "covers": self.covers, "checks": self.checks,
                "counterexample": self.counterexample}


# -- jobs ---------------------------------------------------------------------------

def pe_jobs(threads=(1, 2, 4), policies=tuple(POLICIES), split: bool = False) -> list[Job]:
    """One-cycle proofs; `split` proves each collision count n as its own job."""
    cases = lambda t: range(t + 1) if split and t > 1 else (None,)
    return [Job("pe", t, p, case=c) for t in threads for p in policies for c in cases(t)]


def isolation_jobs(threads=(1, 2, 4)) -> list[Job]:
    """One-cycle proofs of the PEs with operand isolation (default policy)."""
    return [Job("pe", t, isolate=True) for t in threads]


def step_jobs(threads=(1, 2, 4)) -> list[Job]:
    return [Job("pe-step", t, depth=PE_STEP_DEPTH) for t in threads]


def pipeline_jobs(threads=(1, 2, 4), depths=(1, 2), cycles: int = PIPELINE_DEPTH) -> list[Job]:
    """Each pipelined PE against the single-cycle one, from reset for `cycles` cycles."""
    return [Job("pe-pipeline", t, depth=cycles, pipeline=p) for t in threads for p in depths]


def array_jobs(depth: int = ARRAY_DEPTH) -> list[Job]:
    """Per array: the bounded trace check and the one-transition step proof."""
    return [Job(kind, t, rows=r, cols=c, depth=depth if kind == "array" else 1)
            for r, c, t in ARRAYS for kind in ("array", "array-step")]


def mutant_jobs(threads=(2, 4)) -> list[Job]:
    """Each mutant on the thread counts given (where it applies)."""
    from nbsmt.formal.mutants import MUTANTS

    depth = {"pe-step": PE_STEP_DEPTH, "pe-pipeline": CI_PIPELINE_DEPTH}
    return [Job(m.proof, t, mutant=m.name, depth=depth.get(m.proof, 0), pipeline=m.pipeline)
            for m in MUTANTS.values() for t in threads if m.applies(t, POLICIES["default"])
            and (m.proof == "pe" or t == threads[0])]


def full_matrix(split: bool = False, depth: int | None = None) -> list[Job]:
    """Everything `make formal` runs; the longest jobs (4T) first."""
    jobs = (pe_jobs(split=split) + isolation_jobs() + step_jobs() + pipeline_jobs()
            + array_jobs(depth or ARRAY_DEPTH) + mutant_jobs())
    return sorted(jobs, key=lambda j: -j.threads if j.kind == "pe" else 0)


def ci_subset(split: bool = False, depth: int | None = None) -> list[Job]:
    """What tests/test_formal.py runs: the default policy (the 4T PE for CI_T4_CASES
    collision counts), a 2T depth-2 pipelined PE, three quick mutants, the arrays."""
    pe = pe_jobs(threads=(1, 2), policies=("default",), split=split)
    pe += [j for j in pe_jobs(threads=(4,), policies=("default",), split=True)
           if j.case in CI_T4_CASES]
    jobs = (pe + step_jobs()
            + pipeline_jobs(threads=(2,), depths=(2,), cycles=CI_PIPELINE_DEPTH)
            + array_jobs(depth or CI_ARRAY_DEPTH)
            + [j for j in mutant_jobs(threads=(2,)) if j.mutant in CI_MUTANTS])
    return sorted(jobs, key=lambda j: -j.threads if j.kind == "pe" else 0)


# -- running ------------------------------------------------------------------------

def pe_verilog(threads: int, policy: Policy, mutant: str | None = None,
               pipeline: int = 0, isolate: bool = False) -> tuple[str, str]:
    """(Verilog text, module name) of the generated PE, mutated if `mutant` is given."""
    from nbsmt.hw.design import Design

    from nbsmt.formal.mutants import mutant as get_mutant

    design = Design.pe(threads, policy, pipeline=pipeline, isolate_operands=isolate)
    text, name = design.verilog(), design.name
    if mutant is not None:
        m = get_mutant(mutant)
        if not m.applies(threads, policy):
            raise ValueError(f"mutant {mutant} does not apply to T={threads}, {policy.short_name}")
        text = m.apply(text)
    return text, name


def _signed(value: int, bits: int) -> int:
    """Two's complement reading of an unsigned `bits`-wide value (1 bit stays 0/1)."""
    if bits == 1:
        return int(value)
    return value - (1 << bits) if value >> (bits - 1) else value


def _lanes(value: int, lanes: int, bits: int, signed: bool) -> list[int]:
    out = [(value >> (t * bits)) & ((1 << bits) - 1) for t in range(lanes)]
    return [_signed(v, bits) for v in out] if signed else out


def _compile(harness, top: str, sources: dict[str, str]):
    from nbsmt.hw.generate import to_verilog

    from nbsmt.formal.smt import compile_design

    return compile_design({**sources, f"{top}.v": to_verilog(harness, top)}, top)


def run_pe(job: Job, time_limit: float | None = None) -> Result:
    """One cycle of the PE against the reference: unsat of `not ok` is the proof."""
    from nbsmt.formal.harness import PEMiter
    from nbsmt.formal.smt import Unrolling

    start = time.monotonic()
    policy = POLICIES[job.policy]
    text, name = pe_verilog(job.threads, policy, job.mutant, isolate=job.isolate)
    design = _compile(PEMiter(module_name=name, threads=job.threads, policy=policy),
                      "nbsmt_formal_pe_miter", {"pe.v": text})
    compile_seconds = time.monotonic() - start
    u = Unrolling(design, initial=False, time_limit=time_limit)
    probes = {p: u.port_term(p, 0) for p in design.outputs if p != "ok"}
    probes.update({p: u.port_term(p, 0) for p in ("a_in", "w_in", "en_in", "last_in")})
    if job.case is not None:
        u.assume(f"(= {u.port('ref_n', 0)} (_ bv{job.case} {design.width('ref_n')}))")
    found, seconds, cpu = u.check(u.term(f"(not {u.port('ok', 0)})"))
    if found is None:
        return Result(job, "unknown", seconds, compile_seconds, cpu, checks=1)
    if not found:
        return Result(job, "proven", seconds, compile_seconds, cpu, checks=1)
    v = {p: u.value(t) for p, t in probes.items()}
    return Result(job, "failed", seconds, compile_seconds, cpu, checks=1,
                  counterexample=format_pe_counterexample(v, job.threads, policy))


def format_pe_counterexample(v: dict, threads: int, policy: Policy) -> str:
    """Operands and both sides' values of a one-cycle counterexample, one block of text."""
    acc_bits = policy.acc_bits
    a = _lanes(int(v["a_in"]), threads, policy.act_bits, signed=False)
    w = _lanes(int(v["w_in"]), threads, policy.weight_bits, signed=True)
    side = lambda who: (f"contribution={_signed(v[f'{who}_contribution'], acc_bits)} "
                        f"n_active={v[f'{who}_n_active']} lossy={v[f'{who}_lossy']} "
                        f"result_valid={int(v[f'{who}_result_valid'])}")
    return (f"a={a} w={w} en={int(v['en_in'])} last={int(v['last_in'])} "
            f"acc={_signed(v['acc'], acc_bits)} (reference: {v['ref_n']} active lanes)\n"
            f"  PE:        {side('dut')}\n"
            f"  reference: {side('ref')}")


def _bmc(job: Job, design, *, initial: bool, first: int, time_limit, compile_seconds,
         trace_ports, properties: str = "ok_", covers: bool = True, extra=None) -> Result:
    """Check every output named `properties`* in cycles first..depth, and find the first
    cycle of each `cover_*` (if `covers`). `extra` adds properties written in SMT-LIB:
    {name: function (unrolling, cycle) -> Bool expression}.

    A property proven in cycle k is assumed in later cycles (it holds there anyway),
    which keeps the incremental checks small.
    """
    from nbsmt.formal.smt import Unrolling

    u = Unrolling(design, initial=initial, time_limit=time_limit)
    oks = {p: (lambda u, k, p=p: u.port(p, k))
           for p in sorted(design.outputs) if p.startswith(properties)}
    oks.update(extra or {})
    covers = {p: None for p in sorted(design.outputs) if covers and p.startswith("cover_")}
    probes = {}
    total = cpu_total = 0.0
    checks = 0
    for k in range(job.depth + 1):
        u.extend(k)
        probes[k] = {p: u.port_term(p, k) for p in trace_ports}
        if k < first:
            continue
        for ok, prop in oks.items():
            holds = prop(u, k)
            found, seconds, cpu = u.check(u.term(f"(not {holds})"))
            total += seconds
            cpu_total += cpu
            checks += 1
            if found is None:
                return Result(job, "unknown", total, compile_seconds, cpu_total, checks=checks,
                              counterexample=f"{ok} undecided in cycle {k}")
            if found:
                trace = [(i, {p: _signed(u.value(t), design.width(p))
                                  for p, t in probes[i].items()}) for i in range(k + 1)]
                return Result(job, "failed", total, compile_seconds, cpu_total, checks=checks,
                              counterexample=f"{ok} violated in cycle {k}\n"
                                             + format_trace(trace))
            u.assume(holds)
        for cover, at in covers.items():
            if at is None:
                found, seconds, cpu = u.check(u.term(u.port(cover, k)))
                total += seconds
                cpu_total += cpu
                checks += 1
                if found:
                    covers[cover] = k
    return Result(job, "proven", total, compile_seconds, cpu_total, covers=covers,
                  checks=checks)


def format_trace(trace) -> str:
    """One line per cycle: the traced ports' values."""
    return "\n".join(f"  cycle {k}: " + " ".join(f"{p}={int(x)}" for p, x in values.items())
                     for k, values in trace)


def run_pe_step(job: Job, time_limit: float | None = None) -> Result:
    from nbsmt.formal.harness import PEStep

    start = time.monotonic()
    policy = POLICIES[job.policy]
    text, name = pe_verilog(job.threads, policy, job.mutant)
    design = _compile(PEStep(module_name=name, threads=job.threads, policy=policy),
                      "nbsmt_formal_pe_step", {"pe.v": text})
    return _bmc(job, design, initial=False, first=1, time_limit=time_limit,
                compile_seconds=time.monotonic() - start,
                trace_ports=("en_in", "last_in", "acc", "result"))


def run_pe_pipeline(job: Job, time_limit: float | None = None) -> Result:
    """The pipelined PE equals the single-cycle PE, latency accounted for, on every input
    sequence of `depth` cycles from reset (harness.PEPipeline)."""
    from nbsmt.formal.harness import PEPipeline

    start = time.monotonic()
    policy = POLICIES[job.policy]
    single, single_name = pe_verilog(job.threads, policy)
    piped, piped_name = pe_verilog(job.threads, policy, job.mutant, pipeline=job.pipeline)
    design = _compile(PEPipeline(module_names=(single_name, piped_name), threads=job.threads,
                                 policy=policy, pipeline=job.pipeline),
                      "nbsmt_formal_pe_pipeline", {"pe.v": single, "pe_pipelined.v": piped})
    return _bmc(job, design, initial=True, first=0, time_limit=time_limit,
                compile_seconds=time.monotonic() - start,
                trace_ports=("en_in", "last_in", "result_valid", "result"),
                properties="ok_trace_")


def run_array(job: Job, time_limit: float | None = None) -> Result:
    """"array": the `ok_trace_*` properties and covers from reset to `depth` cycles;
    "array-step": the `ok_step_*` properties for one transition from any state."""
    from nbsmt.formal.harness import ArrayMonitor

    start = time.monotonic()
    monitor = ArrayMonitor(rows=job.rows, cols=job.cols, threads=job.threads,
                           policy=POLICIES[job.policy])
    design = _compile(monitor, "nbsmt_formal_array", {})
    step = job.kind == "array-step"
    # A halt (the core's `run` low) changes no register of the array outside its output
    # buffer, so a run with back-pressure is the run without it with repeated core
    # states (docs/formal.md). Registered back-pressure: o.ready reaches no register
    # outside the buffer and not i.ready -- a twin of the state that differs only in
    # o.ready has the same i.ready and moves the core to the same registers.
    buffer = ("array.outbuf.",)

    def ready_reaches_only_the_buffer(u, k):
        twin, twin_next = u.twin(k - 1, ("o_ready",))
        return (f"(and {u.registers_equal('array.', k, twin_next, exclude=buffer)} "
                f"(= {u.port('i_ready', k - 1)} {u.port('i_ready', twin)}))")

    frozen = {"ok_step_all_registers_hold":
              lambda u, k: (f"(=> {u.port('halt', k - 1)} "
                            f"{u.registers_equal('array.', k - 1, k, exclude=buffer)})"),
              "ok_step_ready_reaches_only_the_buffer": ready_reaches_only_the_buffer}
    return _bmc(job, design, initial=not step, first=1 if step else 0, time_limit=time_limit,
                compile_seconds=time.monotonic() - start,
                trace_ports=("i_valid", "i_ready", "i_last", "o_valid", "o_ready", "o_last"),
                properties="ok_step_" if step else "ok_trace_", covers=not step,
                extra=frozen if step else None)


_RUNNERS = {"pe": run_pe, "pe-step": run_pe_step, "pe-pipeline": run_pe_pipeline,
            "array": run_array, "array-step": run_array}


def run_job(job: Job, time_limit: float | None = None) -> Result:
    return _RUNNERS[job.kind](job, time_limit)


def run_jobs(jobs: list[Job], *, workers: int = 2, time_limit: float | None = None,
             progress=None) -> list[Result]:
    """Run `jobs` in `workers` processes (one solver each); results in job order.

    `progress(result)` is called as each job finishes; `time_limit`: `check_time_limit`.
    """
    time_limit = check_time_limit(time_limit, "time_limit")
    results: dict[Job, Result] = {}
    with WorkerPool(workers) as pool:
        futures = {pool.submit(run_job, job, time_limit): job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results[futures[future]] = result
            if progress:
                progress(result)
    return [results[job] for job in jobs]
