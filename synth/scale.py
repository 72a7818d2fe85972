"""`make scale`: does the array keep its clock as it grows? Critical paths across sizes.

Times N x N arrays (default 8, 16, 32) for T = 1/2/4 at pipeline depths 0 and 2 through
the timing flow `make synth` uses (`nbsmt.synth.flow.time_design`: every distinct
module, so the PE, mapped once; fanout repair; OpenSTA on the flattened netlist), and
reports for each the critical path, its ratio to the 8x8 array of the same T and depth,
the blocks it crosses and where it ends, the library area, and, at equal depth, the
area ratio and the time speedup against the OS-SA of the same size (cycle model of the
`make sim` GEMM). Wall times per design and in total are measured, not estimated.

    python -m nbsmt.synth.scale [--sizes 8 16 32] [--pdk NAME] [--out build/scale]

Writes scale.md and scale.json (atomic) into --out.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import tempfile
import time
from pathlib import Path

from nbsmt.core.cache import Cache, build_root
from nbsmt.core.fileio import write_json, write_text
from nbsmt.hw.design import Design
from nbsmt.synth.timing_report import DEMO_GEMM, fair_comparisons, timing_records

DEFAULT_SIZES = (8, 16, 32)
THREADS = (1, 2, 4)
DEPTHS = (0, 2)
#: The issue's target: bigger arrays' critical paths within this factor of 8x8's.
TOLERANCE = 1.05
#: Blocks that are the PE's own logic (synth/timing.py block names).
PE_BLOCKS = ("reduce", "mult", "accum", "pipeline", "pass-through")


def designs(sizes=DEFAULT_SIZES, threads=THREADS, depths=DEPTHS) -> list[Design]:
    """Every array of the study, smallest first (so the reference 8x8 finishes first)."""
    return [Design.array(n, n, t, pipeline=p) for n in sorted(sizes) for p in depths
            for t in threads]


def path_kind(blocks: list[str]) -> str:
    """Where a critical path belongs: "PE" (it ends in PE logic), "PE > drain" (the PE's
    result into the drain's first register, the 8x8 arrays' own kind of path), or the
    first block outside the PEs' datapath it crosses (control, counters, ...)."""
    real = [b for b in blocks if b != "fanout-tree"]
    if real and real[-1] in PE_BLOCKS:
        return "PE"
    outside = [b for b in real if b not in PE_BLOCKS + ("skew", "drain")]
    if outside:
        return outside[0]
    return "PE > drain" if any(b in PE_BLOCKS for b in real) else (real[-1] if real else "?")


def rows_of(timings: dict[Design, dict], reference_size: int) -> list[dict]:
    """One record per timed design, with its comparisons (module doc)."""
    same_depth = {(r["rows"], r["threads"], r["pipeline"]): r
                  for r in fair_comparisons(timing_records(timings, []))
                  if r["view"] == "same depth"}
    records = []
    for d, t in timings.items():
        ref = timings.get(Design.array(reference_size, reference_size, d.threads, pipeline=d.pipeline))
        fair = same_depth.get((d.rows, d.threads, d.pipeline))
        rec = {"size": d.rows, "threads": d.threads, "pipeline": d.pipeline, "design": d.name,
               "critical_path_ns": t["critical_path_ns"], "blocks": t["blocks"],
               "startpoint": t["startpoint"], "endpoint": t["endpoint"],
               "path_kind": path_kind(t["blocks"]), "area_um2": t["area_um2"],
               "cell_count": t["cell_count"], "map_seconds": t["map_seconds"],
               "sta_seconds": t["sta_seconds"], "cached": t.get("cached", False),
               "vs_reference": t["critical_path_ns"] / ref["critical_path_ns"] if ref else None}
        if fair is not None:   # the timing report's like-for-like view (timing_report.py)
            rec.update(area_ratio=fair["area_ratio_timing_lib"], time_speedup=fair["time_speedup"])
        records.append(rec)
    return sorted(records, key=lambda r: (r["pipeline"], r["threads"], r["size"]))


def buffer_area_um2(size: int, library, workdir: Path) -> float:
    """Area of an N-column array's output skid buffer (hw/outbuf.py), mapped alone onto
    `library` by the timing flow's mapper: the cost of the registered back-pressure."""
    from nbsmt.core.policy import Policy
    from nbsmt.hw.generate import to_verilog
    from nbsmt.hw.outbuf import OutputBuffer
    from nbsmt.synth.techmap import map_design

    top = f"nbsmt_outbuf_{size}"
    verilog = to_verilog(OutputBuffer(width=size * Policy().acc_bits), top)
    return map_design(verilog, top, library, workdir / top).area_um2


def markdown(records: list[dict], *, library: str, reference_size: int, wall_s: float,
             command: str, buffers: dict[int, float] | None = None,
             failed: dict[str, str] | None = None) -> str:
    m, k, n = DEMO_GEMM
    lines = [f"# Critical path vs array size ({library})", "",
             f"`{command}`: N x N arrays, T threads, pipeline depth P; ratio to the "
             f"{reference_size}x{reference_size} array of the same T and P; area ratio and "
             f"time speedup against the OS-SA (1T) of the same size and depth, speedup for the "
             f"`make sim` GEMM ({m}x{k}x{n}, mode T). Path kind: where the critical path "
             "belongs (`synth.scale.path_kind`).", "",
             "| N | T | P | critical path (ns) | vs ref | path kind | path crosses | area (um^2) "
             "| area vs OS-SA | time speedup vs OS-SA | map + STA (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        ratio = "-" if r["vs_reference"] is None else f"{r['vs_reference']:.3f}"
        area = f"{r['area_ratio']:.3f}" if "area_ratio" in r else "-"
        speed = f"{r['time_speedup']:.3f}" if "time_speedup" in r else "-"
        took = "cached" if r["cached"] else f"{r['map_seconds'] + r['sta_seconds']:.0f}"
        lines.append(f"| {r['size']} | {r['threads']}T | {r['pipeline']} | "
                     f"{r['critical_path_ns']:.3f} | {ratio} | {r['path_kind']} | "
                     f"{' > '.join(r['blocks'])} | {r['area_um2']:,.0f} | {area} | {speed} | {took} |")
    bigger = [r for r in records if r["size"] > reference_size and r["vs_reference"] is not None]
    within = [r for r in bigger if r["vs_reference"] <= TOLERANCE]
    pe = [r for r in bigger if r["path_kind"] in ("PE", "PE > drain")]
    lines += ["", f"Larger than {reference_size}x{reference_size}: {len(within)} of {len(bigger)} "
              f"within {TOLERANCE - 1:.0%} of it; {len(pe)} of {len(bigger)} on a PE path "
              "(PE or PE > drain).", f"Wall time: {wall_s:.0f} s.", ""]
    for label, reason in sorted((failed or {}).items()):
        lines += [f"Not timed: {label}: {reason}", ""]
    if buffers:
        lines += ["Output skid buffer (hw/outbuf.py) mapped alone, and its share of each array "
                  "(depth 0):", "", "| N | buffer (um^2) | of 1T | of 2T | of 4T |",
                  "|---|---|---|---|---|"]
        for size, area in sorted(buffers.items()):
            shares = []
            for t in THREADS:
                whole = [r["area_um2"] for r in records
                         if (r["size"], r["threads"], r["pipeline"]) == (size, t, 0)]
                shares.append(f"{area / whole[0]:.2%}" if whole else "-")
            lines.append(f"| {size} | {area:,.0f} | " + " | ".join(shares) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    from nbsmt.synth import pdk
    from nbsmt.synth.flow import time_design
    from nbsmt.synth.liberty import LibertyError
    from nbsmt.synth.timing import TimingError
    from nbsmt.synth.yosys import SynthError

    parser = argparse.ArgumentParser(prog="python -m nbsmt.synth.scale", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), metavar="N")
    parser.add_argument("--pdk", default=pdk.default_name(), metavar="NAME|LIB")
    parser.add_argument("--jobs", type=int, default=2, metavar="N")
    parser.add_argument("--out", type=Path, default=build_root() / "scale")
    args = parser.parse_args(argv)
    if any(not 1 <= n <= 64 for n in args.sizes) or args.jobs < 1:
        print("error: sizes must be 1..64 and --jobs at least 1", file=sys.stderr)
        return 2
    try:
        library = pdk.usable(args.pdk, power=False)
    except LibertyError as exc:
        print(f"error: --pdk: {exc}", file=sys.stderr)
        return 2
    cache = Cache(build_root() / "synth-cache")
    reference = min(args.sizes)
    start = time.monotonic()
    timings: dict[Design, dict] = {}
    def timed(d: Design, verilog: str) -> dict:
        try:
            t = time_design(d, verilog, library, cache)
        except (SynthError, TimingError) as exc:   # reported, the other designs still count
            print(f"{d.label}: not timed: {exc}", flush=True)
            return {"error": str(exc).splitlines()[0]}
        print(f"{d.label}: {t['critical_path_ns']:.3f} ns, {' > '.join(t['blocks'])} "
              f"(map {t['map_seconds']:.0f} s, STA {t['sta_seconds']:.0f} s; "
              f"{time.monotonic() - start:.0f} s into the run)", flush=True)
        return t

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {}
        for d in designs(args.sizes):   # Verilog generated here, timed as soon as it exists
            verilog, seconds = d.generate()
            print(f"{d.label}: Verilog {seconds:.0f} s", flush=True)
            futures[pool.submit(timed, d, verilog)] = d
        for future in concurrent.futures.as_completed(futures):
            timings[futures[future]] = future.result()
    wall = time.monotonic() - start
    with tempfile.TemporaryDirectory(prefix="nbsmt-scale-") as tmp:
        buffers = {n: buffer_area_um2(n, library, Path(tmp)) for n in sorted(set(args.sizes))}
    failed = {d.label: t["error"] for d, t in timings.items() if "error" in t}
    records = rows_of({d: t for d, t in timings.items() if "error" not in t}, reference)
    command = "python -m nbsmt.synth.scale " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(records, library=library.label, reference_size=reference, wall_s=wall,
                    command=command.strip(), buffers=buffers, failed=failed)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "scale.json", {"library": library.label, "wall_seconds": wall,
                                         "records": records, "buffer_area_um2": buffers,
                                         "not_timed": failed})
    write_text(args.out / "scale.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
