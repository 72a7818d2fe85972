"""`nbsmt sim`: run A.npy x W.npy on the SySMT array RTL (Icarus or Verilator), bit-checked.

The GEMM is tiled onto an R x C array of T-thread PEs in mode m by the numpy host driver
(`nbsmt.host.driver`), streamed into the RTL by the Verilog stimulus player under cocotb
(`nbsmt.tb.player`), clocked by a generated C++ main on Verilator (`nbsmt.tb.native`) or
by cocotb (`--harness player`; `--harness bench` drives every cycle from Python), and
judged against the emulator (proven equal to the golden model; `--reference golden` for
the golden model itself), its statistics and the cycle model. The RTL's C is
written even when it disagrees (so it can be inspected); the exit status is then 1.
"""

from __future__ import annotations

import sys

from nbsmt.cli import (add_gemm_arguments, add_pipeline_argument, array_dim_from_args,
                       check_unique_names, path_flag, policy_from_args, threads_mode_from_args,
                       under_build)
from nbsmt.core.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("sim", help="run a GEMM on the SySMT array RTL and check it",
                       description="C = A @ W on the R x C SySMT array RTL, checked against "
                                   "the golden model, its statistics and the cycle model.")
    add_gemm_arguments(p, operands_required=False)
    path_flag(p.add_argument("--network", metavar="digits|NET.onnx",
                             help="instead of --a/--w: run every layer GEMM of this network "
                                  "(digits: the CNN of `nbsmt eval`, top-1 accuracy from the "
                                  "RTL's outputs; or an ONNX model on synthetic images) on "
                                  "the RTL, with cycles per layer"), "model")
    p.add_argument("--layer", metavar="NAME",
                   help="--network NET.onnx: only this GEMM layer on the RTL (the others "
                        "on the emulator)")
    p.add_argument("--mode-per-layer", metavar="L=M,...",
                   help="--network: a mode per layer, e.g. conv1=4,conv2=2,fc=1 "
                        "(others: --mode)")
    p.add_argument("--quick", action="store_true",
                   help="--network: the network of `nbsmt eval --quick` (3 epochs, 150 test "
                        "images)")
    p.add_argument("--images", type=int, metavar="N",
                   help="--network: only the first N test images (default: all)")
    p.add_argument("--rows", type=int, default=8, help="array rows R (default: 8)")
    p.add_argument("--cols", type=int, default=8, help="array columns C (default: 8)")
    p.add_argument("--simulator", choices=("icarus", "verilator"), default="verilator",
                   help="RTL simulator (default: verilator)")
    add_pipeline_argument(p)
    p.add_argument("--clock-ns", metavar="NS",
                   help="this array's clock period in ns, for the speedup in time (default: "
                        "the period `nbsmt synth` measured, from --timing)")
    path_flag(p.add_argument("--timing", metavar="JSON",
                             help="timing report of `nbsmt synth` (default: "
                                  f"{under_build('synth/timing.json')})"), "timing-report")
    path_flag(p.add_argument("--out", metavar="C.npy|R.json",
                             help="the RTL's output C, int64 [M,N] (required with --a/--w); "
                                  "with --network, the report (JSON)"), "output-file")
    path_flag(p.add_argument("--stats", metavar="S.json",
                             help="cycles, cycle model, hardware counters, golden statistics, "
                                  "checks"), "output-file")
    p.add_argument("--harness", choices=("native", "player", "bench"),
                   help="native: a Verilog stimulus player clocked by a generated C++ main "
                        "(Verilator only; the default there); player: the same player "
                        "under cocotb, Python refills its memories (the default on Icarus "
                        "and with --waves); bench: cocotb drives every cycle from Python "
                        "(the protocol bench)")
    p.add_argument("--reference", choices=("emulator", "golden"),
                   help="--a/--w: the model the RTL's C and counters are held against, "
                        "computed while the simulator runs: the BLAS-speed emulator "
                        "(default; proven equal to the golden model by the test suite) or "
                        "the golden model itself (slower)")
    p.add_argument("--waves", action="store_true", help="record a waveform and print its path")
    p.set_defaults(func=run)


def _time(record, rows, cols, threads, pipeline, clocks) -> dict:
    """Speedup vs the OS-SA (1T, pipeline 0, same size, mode 1) in cycles and in time."""
    from nbsmt.sim.clocks import time_speedup
    from nbsmt.sim.cycles import gemm_cycles

    g = record["golden"]["shape"]
    ossa = gemm_cycles(g["M"], g["K"], g["N"], rows=rows, cols=cols, mode=1)
    cycles = record["cycles"]
    out = {"ossa_cycles": ossa, "cycle_speedup": ossa / cycles, "ns": None,
           "time_speedup": None, "period_ns": None, "ossa_period_ns": None, "source": None}
    if clocks is not None:
        out.update(clocks, ns=cycles * clocks["period_ns"],
                   time_speedup=time_speedup(ossa, clocks["ossa_period_ns"], cycles, clocks["period_ns"]))
    return out


def waves_file(build_dir):
    """The waveform the simulator left in `build_dir`, newest first, or None."""
    from pathlib import Path
    found = [p for ext in ("fst", "vcd") for p in Path(build_dir).glob(f"*.{ext}")]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _check_inputs(args) -> None:
    """--a/--w (and --out) for one GEMM, or --network; the --network flags only with it."""
    if args.network is None:
        missing = [f for f, v in (("--a", args.a), ("--w", args.w), ("--out", args.out)) if v is None]
        if missing:
            raise InputError(f"give {' and '.join(missing)} (a GEMM) or --network")
        used = [f for f, v in (("--mode-per-layer", args.mode_per_layer),
                               ("--images", args.images), ("--layer", args.layer))
                if v is not None]
        if args.quick:
            used.append("--quick")
        if used:
            raise InputError(f"{', '.join(used)} only go with --network")
    else:
        if args.layer is not None and args.network == "digits":
            raise InputError("--layer applies to --network NET.onnx; --network digits runs "
                             "every layer (--mode-per-layer)")
        given = [f for f, v in (("--a", args.a), ("--w", args.w), ("--stats", args.stats),
                                ("--clock-ns", args.clock_ns), ("--timing", args.timing),
                                ("--reference", args.reference))
                 if v is not None] + (["--waves"] if args.waves else [])
        if given:
            raise InputError(f"--network runs its own layers: {', '.join(given)} do not apply")
    if args.harness == "native" and args.simulator == "icarus":
        raise InputError("--harness native runs on Verilator only (Icarus: player or bench)")
    if args.harness == "native" and args.waves:
        raise InputError("--waves needs a cocotb harness (player or bench), not native")


def _harness(args) -> str:
    """--harness, or the fastest one that does what was asked (waveforms need cocotb)."""
    from nbsmt.tb.array_sim import default_harness

    if args.harness is not None:
        return args.harness
    return "player" if args.waves else default_harness(args.simulator)


def _array_args(args):
    """(policy, threads, mode, rows, cols) of the array flags, each checked (InputError)."""
    policy = policy_from_args(args)
    threads, mode = threads_mode_from_args(args)
    rows, cols = array_dim_from_args("--rows", args.rows), array_dim_from_args("--cols", args.cols)
    return policy, threads, mode, rows, cols


def _require_simulator(name: str) -> None:
    from nbsmt.core.toolchain import missing_simulator
    reason = missing_simulator(name)
    if reason:
        raise InputError(reason)


def run_onnx_network(args) -> int:
    """`nbsmt sim --network NET.onnx [--layer NAME]`: the model on synthetic images, its
    GEMM layers (or one) on the RTL, each judged; the others on the emulator."""
    from pathlib import Path

    from nbsmt.cli import int_arg
    from nbsmt.core.fileio import OutputSet
    from nbsmt.models import layers as L, quantized as Q
    from nbsmt.models.data import synthetic
    from nbsmt.models.graph import load
    from nbsmt.sim.emulator import emulate_gemm
    from nbsmt.tb.network_sim import rtl_gemm

    policy, threads, mode, rows, cols = _array_args(args)
    for flag, given in (("--mode-per-layer", args.mode_per_layer), ("--quick", args.quick)):
        if given:
            raise InputError(f"{flag} applies to --network digits, not to an ONNX model")
    images = int_arg("--images", 1 if args.images is None else args.images, 1)
    outputs = OutputSet({"--out": args.out}, inputs={"--network": args.network})
    if not Path(args.network).is_file():
        raise InputError(f"--network {args.network!r}: neither digits nor an ONNX file")
    graph = load(args.network)
    layers = L.gemm_layers(graph)
    if args.layer is not None and args.layer not in layers:
        names = list(layers)
        raise InputError(f"--layer {args.layer!r}: no such GEMM layer in {args.network} "
                         f"(it has {', '.join(names[:6])}{', ...' if len(names) > 6 else ''})")
    _require_simulator(args.simulator)
    data = synthetic(images, graph.input_shape[1:], calib=2)
    model = Q.quantize_model(graph, layers, data.calib, unit_input=True)
    records = {}

    def gemm(q, group, a, w):
        if args.layer is not None and q.name != args.layer:
            return emulate_gemm(a, w, threads=threads, mode=mode, policy=policy).output
        output, record = rtl_gemm(a, w, rows=rows, cols=cols, threads=threads, mode=mode,
                                  policy=policy, simulator=args.simulator,
                                  pipeline=args.pipeline, harness=_harness(args))
        key = q.name if q.layer.groups == 1 else f"{q.name}/group{group}"
        records[key] = record
        print(f"  {key}: {'x'.join(map(str, record['shape']))} mode {mode}: {record['cycles']} "
              f"cycles (model {record['cycle_model']}), "
              f"{'bit-exact' if record['ok'] else 'MISMATCH'} in {record['wall_seconds']:.1f} s",
              file=sys.stderr, flush=True)
        return output
    Q.run(model, data.x, gemm)
    ok = all(r["ok"] for r in records.values())
    report = {"network": args.network, "images": images, "data": data.name,
              "array": {"rows": rows, "cols": cols, "threads": threads,
                        "pipeline": args.pipeline},
              "policy": policy.as_dict(), "simulator": args.simulator, "mode": mode,
              "layer": args.layer, "layers": records, "ok": ok}
    with outputs.staging() as stage:
        stage.json("--out", report)
    cycles = sum(r["cycles"] for r in records.values())
    print(f"{args.network}: {len(records)} GEMM(s) on the {rows}x{cols} T={threads} RTL array "
          f"(mode {mode}, {images} synthetic image(s)): {cycles:,} cycles, "
          + ("every one bit-exact with the golden model and the emulator" if ok
             else "MISMATCH with the models"))
    return 0 if ok else 1


def run_network(args) -> int:
    """`nbsmt sim --network digits`: every layer on the RTL, judged, and the accuracy."""
    from nbsmt.cli import int_arg
    from nbsmt.core.fileio import OutputSet
    from nbsmt.sim.evaluate import prepare
    from nbsmt.tb.network_sim import layer_modes, run_network as run_layers

    policy, threads, mode, rows, cols = _array_args(args)
    check_unique_names("--mode-per-layer", args.mode_per_layer, "layer")
    try:
        modes = layer_modes(args.mode_per_layer, threads, mode)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    images = None if args.images is None else int_arg("--images", args.images, 1)
    outputs = OutputSet({"--out": args.out})
    _require_simulator(args.simulator)
    print(f"training and quantizing the digits CNN{' (quick)' if args.quick else ''}",
          file=sys.stderr, flush=True)
    wl = prepare(args.quick)
    report = run_layers(wl, rows=rows, cols=cols, threads=threads, modes=modes, policy=policy,
                        simulator=args.simulator, images=images, pipeline=args.pipeline,
                        harness=_harness(args),
                        log=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True))
    report["quick"] = args.quick
    with outputs.staging() as stage:
        stage.json("--out", report)
    print(f"digits CNN, {report['images']} test images, on the {rows}x{cols} T={threads} array "
          f"({args.simulator}, modes {', '.join(f'{k}={v}' for k, v in modes.items())}):")
    for name, layer in report["layers"].items():
        m, k, n = layer["shape"]
        print(f"  {name:5s} {m}x{k}x{n} mode {layer['mode']}: {layer['cycles']} cycles "
              f"(model {layer['cycle_model']}), collisions {layer['collision_rate']:.1%}, "
              f"{'bit-exact' if layer['ok'] else 'MISMATCH: ' + ', '.join(c for c, ok in layer['checks'].items() if not ok)}")
    print(f"  network: {report['cycles']} cycles, {report['cycle_speedup_vs_mode1']:.2f}x vs mode 1; "
          f"top-1 {report['rtl_accuracy']:.2%} from the RTL, {report['emulator_accuracy']:.2%} "
          f"from the emulator (exact 8-bit {report['exact_8bit_accuracy']:.2%})")
    if not report["ok"]:
        print("nbsmt sim: the RTL network disagrees with the models")
        return 1
    print("every layer bit-exact with the golden model and the emulator; accuracy equal")
    return 0


def run(args) -> int:
    """A failed simulation (the bench reported a failure, e.g. no progress) ends with its
    message on one line and status 1, like an RTL result that disagrees."""
    from nbsmt.tb.runner import SimulationFailure

    _check_inputs(args)
    try:
        if args.network is None:
            return run_gemm(args)
        return run_network(args) if args.network == "digits" else run_onnx_network(args)
    except SimulationFailure as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no message"
        print(f"nbsmt sim: the simulation failed: {first}", file=sys.stderr)
        return 1


def run_gemm(args) -> int:
    from nbsmt.tb.array_sim import run_jobs
    from nbsmt.host.driver import plan

    from nbsmt.sim.clocks import array_clocks, check_clock_ns, default_timing_report, load_periods
    from nbsmt.core.fileio import OutputSet
    from nbsmt.core.operands import load_operands

    policy, threads, mode, rows, cols = _array_args(args)
    outputs = OutputSet({"--out": args.out, "--stats": args.stats},
                        inputs={"--a": args.a, "--w": args.w,
                                "--timing": args.timing or default_timing_report()})
    clock_ns = None if args.clock_ns is None else check_clock_ns(args.clock_ns)
    periods = (load_periods(args.timing, flag="--timing") if args.timing
               else load_periods(default_timing_report()))
    a, w = load_operands(args.a, args.w, policy)
    _require_simulator(args.simulator)
    job = plan(a, w, rows=rows, cols=cols, threads=threads, mode=mode, policy=policy,
               pipeline=args.pipeline)
    (record,), build_dir = run_jobs([job], simulator=args.simulator, waves=args.waves,
                                    quiet=True, harness=_harness(args),
                                    reference=args.reference or "emulator")
    output = record.pop("output")
    record["simulator"] = args.simulator
    record["harness"] = _harness(args)
    model = record["cycle_model"]
    record["time"] = _time(record, rows, cols, threads, args.pipeline,
                           array_clocks(periods, rows, cols, threads, args.pipeline, clock_ns))
    with outputs.staging() as stage:
        stage.npy("--out", output)
        stage.json("--stats", record)
    g = record["golden"]
    print(f"C[{g['shape']['M']},{g['shape']['N']}] from the {rows}x{cols} T={threads} "
          f"pipeline {args.pipeline} array (mode {mode}, {args.simulator}) written to {args.out}: "
          f"{record['cycles']} cycles (model {model['cycles']}, mode 1 {model['cycles_mode1']}), "
          f"collisions {g['collision_rate']:.1%}, lossy {record['counters']['lossy_reductions']}")
    t = record["time"]
    if t["ns"] is None:
        print(f"speedup vs the OS-SA: {t['cycle_speedup']:.2f}x in cycles; in time: unknown "
              "(no timing report for this array: run `nbsmt synth` or give --clock-ns)")
    else:
        print(f"speedup vs the OS-SA: {t['cycle_speedup']:.2f}x in cycles, {t['time_speedup']:.2f}x "
              f"in time at the OS-SA's clock ({t['ns']:,.0f} ns at {t['period_ns']:.3f} ns vs "
              f"OS-SA {t['ossa_period_ns']:.3f} ns; {t['source']})")
    if args.waves:
        path = waves_file(build_dir)
        print(f"waves: {path}" if path else f"waves: none found in {build_dir}")
    bad = [name for name, good in record["checks"].items() if not good]
    if bad:
        print(f"nbsmt sim: RTL disagrees with the models: {', '.join(bad)}")
        return 1
    against = ("the emulator (= the golden model, tests/test_emulator.py)"
               if record["reference"] == "emulator" else "the golden model")
    print(f"RTL result bit-exact with {against}; counters and cycles match the models")
    return 0
