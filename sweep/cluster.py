"""Where a sweep's tasks run: a Dask scheduler given by address, or a local cluster of
worker processes; every way of failing to get one is a one-line `ClusterError` within
`timeout` seconds.

- A scheduler address is probed first with an asynchronous client under a deadline:
  the synchronous `distributed.Client(address, timeout=...)` waits forever on a listener
  that accepts the connection but never answers the Dask handshake.
- A cluster without workers never runs a task, so the sweep waits at most `timeout`
  seconds for the first worker (and, while it runs, for one to come back; `Sweep.run`).
- Local workers ignore Ctrl-C (a terminal sends it to the whole process group): the
  client alone handles it, and stops them. They are started through a launcher that
  ignores SIGINT before Python starts, so not even their imports see it, while the
  client never ignores it: a Ctrl-C during the cluster's start-up stops the sweep once
  the cluster is up (`nbsmt.core.interrupts.deferred`), and the cluster shuts down in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import sys
import warnings

from nbsmt.core.errors import InputError
from nbsmt.core.interrupts import Interrupted, deferred, kill_descendants, stopping


class ClusterError(InputError):
    """No usable Dask cluster: unreachable, not Dask, no workers, or lost mid-sweep."""


def scheduler_timeout(seconds: float) -> float:
    """--scheduler-timeout, checked: a number of seconds in (0, 3600]."""
    import math
    if not (math.isfinite(seconds) and 0 < seconds <= 3600):
        raise InputError(f"--scheduler-timeout must be a number of seconds in (0, 3600], "
                         f"not {seconds:g}")
    return seconds


def _quiet() -> None:
    """No log records of the client's own Dask machinery on stderr (its reconnection
    attempts log tracebacks): the sweep says in one line what went wrong."""
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name.split(".")[0] == "distributed":   # Dask's config sets some child levels
            logging.getLogger(name).setLevel(logging.CRITICAL)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def _probe(address: str, timeout: float) -> None:
    from distributed import Client

    client = await asyncio.wait_for(Client(address, asynchronous=True, timeout=timeout),
                                    timeout)
    await client.close()


def connect(address: str, timeout: float):
    """A `distributed.Client` of the scheduler at `address`, with at least one worker."""
    from distributed import Client

    _quiet()
    try:
        try:
            asyncio.run(_probe(address, timeout))
        except BaseException:
            # the half-made client of a failed probe is only collected at exit, where it
            # warns of its never-awaited close: not news for a user who gets the error
            warnings.filterwarnings("ignore", message="coroutine .* was never awaited")
            raise
        client = Client(address, timeout=timeout)
    except (asyncio.TimeoutError, TimeoutError):
        raise ClusterError(f"no Dask scheduler answered at {address} within {timeout:g} s "
                           f"(--scheduler-timeout)") from None
    except (OSError, ValueError, TypeError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: "
                           f"{_first_line(exc)}") from None
    wait_for_workers(client, timeout, f"the Dask scheduler at {address}")
    return client


def wait_for_workers(client, timeout: float, where: str) -> None:
    """Return once `where` has a worker; a ClusterError after `timeout` seconds."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (asyncio.TimeoutError, TimeoutError):
        client.close()
        raise ClusterError(f"no worker joined {where} within {timeout:g} s "
                           f"(--scheduler-timeout)") from None


def _ignoring_sigint_python(folder: str) -> str:
    """A launcher in `folder` that starts this Python with SIGINT ignored, a disposition
    the interpreter keeps (it installs its KeyboardInterrupt handler only over the
    default) and passes on to every process it starts."""
    path = os.path.join(folder, "python-ignoring-sigint")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\ntrap '' INT\nexec {shlex.quote(sys.executable)} \"$@\"\n")
    os.chmod(path, 0o755)
    return path


@contextlib.contextmanager
def local_cluster(workers: int, scratch: str, timeout: float):
    """A Client of a LocalCluster of `workers` single-threaded processes whose temporary
    files all live in `scratch`; closed on exit."""
    import multiprocessing

    import dask
    from distributed import Client, LocalCluster

    _quiet()
    # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers, which turns off
    # glibc's adaptive mmap threshold: every large numpy temporary then costs fresh pages,
    # and the model emulation ran at half speed (ResNet-50: 0.60 s per exact image against
    # 0.29 s in one process). Unset (None) it for our workers.
    dask.config.set({"temporary-directory": scratch,
                     "distributed.worker.multiprocessing-method": "spawn",
                     "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    spawn = multiprocessing.get_context("spawn")
    spawn.set_executable(_ignoring_sigint_python(scratch))
    cluster = None
    try:
        with deferred():   # a cluster stopped half-way would write into `scratch` after us
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR,
                                   env={"TMPDIR": scratch}, local_directory=scratch)
        client = Client(cluster, timeout=timeout)
        try:
            yield client
        finally:
            if stopping():
                # interrupted: stop the workers and the Yosys runs of their tasks now, not
                # after their tasks (multiprocessing's resource tracker stays: killed, it
                # floods stderr)
                kill_descendants(spare="resource_tracker")
            with contextlib.suppress(Exception, Interrupted):   # workers may be gone
                client.close()
    finally:
        if cluster is not None:
            with contextlib.suppress(Exception, Interrupted):
                cluster.close()
        spawn.set_executable(sys.executable)


@contextlib.contextmanager
def cluster_client(scheduler: str | None, workers: int | None, timeout: float):
    """(distributed.Client or None, what runs the tasks): the scheduler at `scheduler`, a
    local cluster of `workers` processes (None: one per core), or none (`workers` 0: run
    in this process). Closed, and the local cluster's scratch folder removed, on every
    way out. Use inside `handled(kill_children=False)`."""
    import shutil
    import time
    import tempfile

    from nbsmt.core.fileio import fresh_path

    if scheduler:
        client = connect(scheduler, timeout)
        try:
            yield client, f"Dask scheduler {scheduler}"
        finally:
            with contextlib.suppress(Exception):   # a lost scheduler cannot be closed
                client.close()
        return
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers == 0:
        yield None, "serial (no cluster)"
        return
    # The workers' temporary folders live in one of ours, removed at the end even when a
    # worker was killed inside a synthesis (or the start-up was interrupted).
    scratch = fresh_path(tempfile.gettempdir(), "nbsmt-sweep-")
    try:
        scratch.mkdir(mode=0o700)
        with local_cluster(workers, str(scratch), timeout) as client:
            yield client, f"LocalCluster of {workers} worker processes"
    finally:
        if stopping():   # interrupted while the cluster started: stop what did start
            kill_descendants(spare="resource_tracker")
        # a worker still dying may write into it while it is removed: retry a little
        for _ in range(25):
            shutil.rmtree(scratch, ignore_errors=True)
            if not scratch.exists():
                break
            time.sleep(0.2)
