"""`nbsmt eval`: the quantized-CNN workload study (accuracy, statistics, array speedup).

The study is `nbsmt.sim.evaluate.study`; its report (DIR/eval.md, DIR/eval.json, two
PNG plots, and --json) is `nbsmt.sim.eval_report`, all or none: the places are checked
before the study runs and the files replace their targets together.
"""

from __future__ import annotations

import sys

from nbsmt.cli import cluster_flags, path_flag, report_flags, under_build
from nbsmt.core.errors import InputError


def register(sub) -> None:
    p = sub.add_parser("eval", help="accuracy and speedup of a quantized CNN on NB-SMT",
                       description="Train the digits CNN, quantize it to 8 bits and run it on "
                                   "NB-SMT arrays: accuracy, per-layer statistics, cycles, "
                                   "per-layer mode search and K reordering.")
    p.add_argument("--quick", action="store_true",
                   help="fewer training epochs and smaller calibration/test splits (for tests)")
    report_flags(p, "eval", "eval.md, eval.json, PNG plots")
    p.add_argument("--budget", type=float, default=1.0, metavar="PP",
                   help="accuracy-loss budget of the mode search, percentage points "
                        "of top-1 vs exact 8-bit (default: 1.0)")
    p.add_argument("--clock-ns", metavar="NS",
                   help="the SySMT arrays' clock period in ns, for speedups in time (default: "
                        "the periods `nbsmt synth` measured, from --timing)")
    path_flag(p.add_argument("--timing", metavar="JSON",
                             help="timing report of `nbsmt synth` (default: "
                                  f"{under_build('synth/timing.json')})"), "timing-report")
    path_flag(p.add_argument("--energy", metavar="JSON",
                             help="energy report of `nbsmt energy`, whose per-action energies "
                                  "price an inference per mode (default: "
                                  f"{under_build('energy/energy.json')})"), "energy-report")
    model = p.add_argument_group(
        "your own model", "with --model, the study of an ONNX model instead of the built-in "
        "CNN: per-layer shapes, sparsity, collisions, cycles, top-1 (docs/models.md)")
    path_flag(model.add_argument("--model", metavar="NET.onnx",
                                 help="an ONNX model (float; `nbsmt export` writes the "
                                      "built-in ones)"), "model")
    source = model.add_mutually_exclusive_group()
    path_flag(source.add_argument("--data", metavar="D",
                                  help="digits or mnist (built-in data sets), an image folder "
                                       "(one subfolder per class), or X.npy[,Y.npy]: images "
                                       "[B,C,H,W], optional labels [B]"), "images")
    source.add_argument("--synthetic", type=int, metavar="N",
                        help="N random images of the model's input shape (no labels)")
    model.add_argument("--images", type=int, metavar="N", help="test on the first N images")
    model.add_argument("--resize", metavar="H,W", help="--data DIR: resize images to H,W "
                       "(the model's input size)")
    model.add_argument("--mean", metavar="M[,M,M]",
                       help="--data DIR: subtract per channel, after scaling to [0, 1]")
    model.add_argument("--std", metavar="S[,S,S]", help="--data DIR: then divide per channel")
    model.add_argument("--calib", type=int, metavar="N",
                       help="calibration images (default: the data set's calibration split, "
                            "or 8)")
    model.add_argument("--input-shape", metavar="C,H,W",
                       help="the input's shape, for a model with free dimensions")
    model.add_argument("--rows", type=int, default=8, metavar="R",
                       help="array rows for the cycles (default: 8)")
    model.add_argument("--cols", type=int, metavar="C", help="array columns (default: R)")
    model.add_argument("--batch", type=int, default=16, metavar="B",
                       help="images per emulator batch (memory; default: 16)")
    model.add_argument("--random-weights", type=int, metavar="SEED",
                       help="replace the weights by He-normal ones (BatchNorm statistics "
                            "from the calibration images): for topology-only models")
    model.add_argument("--prune", type=float, metavar="P",
                       help="zero the fraction P of each layer's smallest weights")
    cluster_flags(model, default_workers="one per core when there is more than one --batch "
                                          "of images")
    model.add_argument("--mode-search", action="store_true",
                       help="also pick per-layer modes on a 4T array within --budget "
                            "(greedy, on the calibration images)")
    model.add_argument("--reorder", action="store_true",
                       help="also measure collisions with the calibration K permutation")
    p.set_defaults(func=run)


def _model_only_flags(args) -> list[str]:
    return [flag for flag, value in (("--data", args.data), ("--synthetic", args.synthetic),
                                     ("--images", args.images), ("--calib", args.calib),
                                     ("--input-shape", args.input_shape),
                                     ("--random-weights", args.random_weights),
                                     ("--prune", args.prune),
                                     ("--mode-search", args.mode_search or None),
                                     ("--resize", args.resize), ("--mean", args.mean),
                                     ("--std", args.std), ("--scheduler", args.scheduler),
                                     ("--workers", args.workers),
                                     ("--reorder", args.reorder or None)) if value is not None]


def run(args) -> int:
    if args.model is not None:
        return run_model(args)
    if _model_only_flags(args):
        raise InputError(f"{_model_only_flags(args)[0]} applies to --model only")
    from pathlib import Path

    from nbsmt.sim.clocks import check_clock_ns, default_timing_report, load_periods
    from nbsmt.sim.eval_report import report_outputs, write_report
    from nbsmt.sim.evaluate import study, time_speedups
    from nbsmt.energy.report import default_energy_report, load_action_tables

    if not 0 <= args.budget <= 100:
        raise InputError(f"--budget must be between 0 and 100 percentage points, not {args.budget}")
    out = Path(args.out)
    outputs = report_outputs(out, args.json, inputs={
        "--timing": args.timing or default_timing_report(),
        "--energy": args.energy or default_energy_report()})
    clock_ns = None if args.clock_ns is None else check_clock_ns(args.clock_ns)
    periods = (load_periods(args.timing, flag="--timing") if args.timing
               else load_periods(default_timing_report()))
    energy = (load_action_tables(args.energy, flag="--energy") if args.energy
              else load_action_tables(default_energy_report()))
    command = "nbsmt eval" + (" --quick" if args.quick else "") + (
        f" --budget {args.budget:g}" if args.budget != 1.0 else "")
    report = study(quick=args.quick, budget_pp=args.budget, energy=energy,
                   log=lambda msg: print(f"  {msg}", file=sys.stderr))
    report["command"] = command
    report["time"] = time_speedups(report, periods, clock_ns)
    write_report(outputs, report)
    done = report["done"]
    speed = ", ".join(f"{k} x{v:.2f}" for k, v in done["mode_search_speedup_at_budget"].items())
    print(f"report written to {out}/eval.md: 2T (default policy) loses "
          f"{done['2T_default_loss_pp']:.2f} pp vs exact 8-bit; mode search at "
          f"{args.budget:g} pp: {speed}")
    for arr, per_mode in report["time"].items():
        for mode, t in per_mode.items():
            print(f"{arr} mode {mode} on the {mode}T array (pipeline {t['pipeline']}): speedup "
                  f"{t['cycle_speedup']:.2f}x in cycles, {t['time_speedup']:.2f}x in time at the "
                  f"OS-SA's clock ({t['period_ns']:.3f} vs {t['ossa_period_ns']:.3f} ns; {t['source']})")
    if not report["time"]:
        print("speedup in time: no timing report (run `make synth`) and no --clock-ns")
    return 0


def dask_map(client):
    """A `map_chunks` for `nbsmt.models.study.study` on a Dask cluster: the quantized model
    sent once to every worker, one task per chunk of images, results in chunk order."""
    def map_chunks(model, chunks, run, log):
        from distributed import as_completed

        from nbsmt.sweep.cluster import ClusterError
        shared = client.scatter(model, broadcast=True)
        futures = [client.submit(run, shared, chunk, pure=False) for chunk in chunks]
        where = {f.key: i for i, f in enumerate(futures)}
        results, done = [None] * len(chunks), 0
        try:
            for future in as_completed(futures):
                i = where[future.key]
                results[i] = future.result()
                done += len(chunks[i])
                log(f"{done}/{sum(map(len, chunks))} images")
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"lost the Dask cluster after {done} images: "
                               f"{type(exc).__name__}") from None
        yield from results
    return map_chunks


def _numbers(flag: str, text: str | None, kind):
    """Comma-separated numbers of a flag (None when not given), checked."""
    if text is None:
        return None
    try:
        values = [kind(v) for v in text.split(",")]
    except ValueError:
        values = []
    import math
    if not values or any(not math.isfinite(v) or (flag != "--mean" and v <= 0) for v in values):
        raise InputError(f"{flag} takes comma-separated {'positive ' if flag != '--mean' else ''}"
                         f"numbers, not {text!r}")
    return values


def _input_shape(text: str | None):
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.split(","))
    except ValueError:
        shape = ()
    if len(shape) not in (1, 3) or any(v < 1 for v in shape):
        raise InputError(f"--input-shape must be C,H,W (positive integers), not {text!r}")
    return shape


def run_model(args) -> int:
    """`nbsmt eval --model`: the study of an ONNX model (nbsmt.models.study)."""
    from pathlib import Path

    from nbsmt.cli import array_dim_from_args, int_arg
    from nbsmt.models import data as datasets
    from nbsmt.models.graph import load
    from nbsmt.models.report import report_outputs, write_report
    from nbsmt.core.interrupts import handled
    from nbsmt.models.study import check_fits, serial_map, study
    from nbsmt.sweep.cluster import cluster_client, scheduler_timeout
    from nbsmt.models.weights import prune, randomize

    from nbsmt.energy.report import default_energy_report, load_action_tables
    from nbsmt.models.study import time_per_inference
    from nbsmt.sim.clocks import check_clock_ns, default_timing_report, load_periods

    if args.quick:
        raise InputError("--quick applies to the built-in study, not to --model")
    if not 0 <= args.budget <= 100:
        raise InputError(f"--budget must be between 0 and 100 percentage points, not {args.budget}")
    rows = array_dim_from_args("--rows", args.rows)
    cols = rows if args.cols is None else array_dim_from_args("--cols", args.cols)
    batch = int_arg("--batch", args.batch, 1, 4096)
    images = None if args.images is None else int_arg("--images", args.images, 1)
    calib = None if args.calib is None else int_arg("--calib", args.calib, 1)
    shape = _input_shape(args.input_shape)
    if args.data is None and args.synthetic is None:
        raise InputError("--model needs images: --data digits|X.npy[,Y.npy] or --synthetic N")
    data_files = ([] if args.data in (None, "digits", "mnist") or Path(args.data).is_dir()
                  else [p for p in args.data.split(",") if p])
    outputs = report_outputs(Path(args.out), args.json, inputs={
        "--model": args.model, "--data": data_files,
        "--timing": args.timing or default_timing_report(),
        "--energy": args.energy or default_energy_report()})
    clock_ns = None if args.clock_ns is None else check_clock_ns(args.clock_ns)
    periods = (load_periods(args.timing, flag="--timing") if args.timing
               else load_periods(default_timing_report()))
    energy = (load_action_tables(args.energy, flag="--energy") if args.energy
              else load_action_tables(default_energy_report()))
    if energy is not None:
        from nbsmt.core.policy import Policy
        about = energy[1]
        problem = (f"covers a {about['rows']}x{about['cols']} array, not the {rows}x{cols} of "
                   f"--rows/--cols" if (about["rows"], about["cols"]) != (rows, cols) else
                   "was made for another policy than the default"
                   if about["policy"] != Policy().as_dict() else None)
        if problem and args.energy:
            raise InputError(f"--energy {args.energy!r}: {problem}")
        if problem:   # the default report is of another array: no energy, as without one
            energy = None
    if not Path(args.model).is_file():
        raise InputError(f"--model {args.model!r}: no such file")
    graph = load(args.model, shape)   # checked before any image is read
    if args.synthetic is not None:
        count = int_arg("--synthetic", args.synthetic, 1)
        data = datasets.synthetic(count, graph.input_shape[1:], calib)
    elif args.data == "digits":
        data = datasets.digits(images, calib)
    elif args.data == "mnist":
        data = datasets.mnist(images, calib)
    elif Path(args.data).is_dir():
        data = datasets.folder(args.data, graph.input_shape[1:],
                               resize=_numbers("--resize", args.resize, int),
                               mean=_numbers("--mean", args.mean, float),
                               std=_numbers("--std", args.std, float), images=images,
                               calib=calib)
    else:
        data = datasets.arrays(args.data, images, calib, classes=graph.classes)
    if not Path(args.data or "").is_dir():
        used = [f for f, v in (("--resize", args.resize), ("--mean", args.mean),
                               ("--std", args.std)) if v is not None]
        if used:
            raise InputError(f"{used[0]} applies to --data DIR (an image folder)")
    check_fits(graph, data)   # before the work, like every input
    if args.prune is not None and not 0 <= args.prune < 1:
        raise InputError(f"--prune must be a fraction in [0, 1), not {args.prune:g}")
    if args.random_weights is not None:
        randomize(graph, data.calib, int_arg("--random-weights", args.random_weights, 0,
                                              2**32 - 1))
    if args.prune:
        prune(graph, args.prune)
    workers = args.workers
    if workers is None and len(data.x) <= batch:
        workers = 0   # one batch: a cluster would only add its start-up
    elif workers is not None:
        workers = int_arg("--workers", workers, 0)
    timeout = scheduler_timeout(args.scheduler_timeout)
    log = lambda msg: print(f"  {msg}", file=sys.stderr, flush=True)   # noqa: E731
    with handled(kill_children=False), \
            cluster_client(args.scheduler, workers, timeout) as (client, executor):
        log(f"{len(data.x)} images in batches of {batch} on {executor}")
        report = study(graph, data, rows=rows, cols=cols, batch=batch,
                       energy_tables=None if energy is None else energy[0],
                       search_budget_pp=args.budget if args.mode_search else None,
                       reorder=args.reorder, log=log,
                       map_chunks=serial_map if client is None else dask_map(client))
    report["executor"] = executor
    report["time"] = time_per_inference(report["network"], rows=rows, cols=cols,
                                        periods=periods, clock_ns=clock_ns)
    if energy is not None:
        report["network"]["energy"]["source"] = energy[1]["source"]
    report["weights"] = {"random_seed": args.random_weights, "pruned": args.prune or 0.0}
    report["command"] = "nbsmt " + " ".join(args.argv)
    write_report(outputs, report)
    net = report["network"]
    top = net["top1"]
    what = "accuracy" if "accuracy" in top["1"] else "agreement_with_exact"
    print(f"report written to {args.out}/model.md: {len(report['layers'])} GEMM layers, "
          f"{net['macs']:,} MACs per inference; top-1 {what.replace('_', ' ')}: "
          + ", ".join(f"{top[k]['name']} {100 * top[k][what]:.2f} %" for k in top)
          + f"; speedup 2T x{net['speedup']['2']:.2f}, 4T x{net['speedup']['4']:.2f} "
            f"on {report['array']}")
    for mode, t in report["time"].items():
        print(f"  {mode}T (pipeline {t['pipeline']}): {t['us_per_inference']:.1f} us per inference "
              f"vs {t['ossa_us_per_inference']:.1f} us on the OS-SA, x{t['time_speedup']:.2f} in time")
    if "mode_search" in report:
        s = report["mode_search"]
        print(f"  mode search at {s['budget_pp']:g} pp ({s['loss']}): x{s['speedup']:.2f} on the "
              f"4T array, test loss {s['test_loss_pp']:.2f} pp; "
              + ", ".join(f"{n}={m}" for n, m in s["modes"].items()))
    for model, per_mode in net.get("energy", {}).get("per_model", {}).items():
        print(f"  energy ({model}): " + ", ".join(
            f"mode {m} {r['nj_per_inference']:.1f} nJ" for m, r in per_mode.items()))
    return 0
