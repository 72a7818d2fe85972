"""Worker processes for CPU-bound jobs (formal proofs, energy simulations) that an
interrupt stops cleanly.

A terminal sends Ctrl-C to the whole process group: a worker still starting up would
print a KeyboardInterrupt traceback (even "Fatal Python error" from its imports), and one
killed by `nbsmt.core.interrupts` could not remove its temporary files. So:
- workers start with SIGINT blocked (a mask is inherited across fork and exec): the
  parent alone handles Ctrl-C, and kills them (`handled()`);
- their temporary files (TMPDIR) live in one scratch folder of the parent's, removed
  when the pool is left, however it is left.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import shutil
import signal
import tempfile

from nbsmt.core.fileio import fresh_path


def _use_scratch(folder: str) -> None:
    os.environ["TMPDIR"] = folder
    tempfile.tempdir = folder


class WorkerPool(concurrent.futures.ProcessPoolExecutor):
    """`workers` spawned processes (see the module's docstring); use it in a `with`.

    Submit from the main thread: a worker is started by the `submit` that needs it, and
    the SIGINT block applies to the thread that starts it.
    """

    def __init__(self, workers: int):
        self.scratch = fresh_path(tempfile.gettempdir(), "nbsmt-pool-")   # made on entry
        super().__init__(max_workers=max(1, workers),
                         mp_context=multiprocessing.get_context("spawn"),
                         initializer=_use_scratch, initargs=(str(self.scratch),))

    def __enter__(self):
        try:
            self.scratch.mkdir(mode=0o700)
            return super().__enter__()
        except BaseException:   # a signal may land here, before `with` would call __exit__
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise

    def submit(self, fn, /, *args, **kwargs):
        unblocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            return super().submit(fn, *args, **kwargs)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, unblocked)

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
