"""Ctrl-C and SIGTERM for the CLI: stop every child process at once, clean up, exit 130/143.

Simulation and synthesis run their work in child processes (make, g++, vvp, Yosys), which
a plain KeyboardInterrupt would leave running or wait for, and Python's default SIGTERM
ends the process without running cleanup. Inside `handled()`, either signal kills this
process's descendants (found with psutil), marks the run as stopping (so no new child
starts) and raises `Interrupted` in the main thread; the stack then unwinds through the
usual `finally` blocks, which remove temporary folders and staged outputs.

Python delivers the signal's exception wherever the main thread happens to be; when that
is a destructor or a callback, Python only prints it and carries on, and the run then
fails on its killed children instead. So the signal is also recorded: `handled()` turns
any failure after a signal into `Interrupted`, and the swallowed copy is not printed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

import psutil

_STOPPING = threading.Event()
_RECEIVED: list[int] = []   # signal numbers received inside handled(), first one first


class Interrupted(BaseException):
    """The run was stopped by a signal; `status` is the conventional exit status 128 + N."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.status = 128 + signum


def stopping() -> bool:
    """True once a signal asked the run to stop: start no further child process."""
    return _STOPPING.is_set()


def _running(process: psutil.Process) -> bool:
    """False for a process that has ended: gone, or a zombie (its parent only has to reap it)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:   # ended meanwhile (ZombieProcess is one too)
        return False
    except psutil.AccessDenied:
        return True


def _descendants(pid: int | None) -> list[psutil.Process]:
    try:
        found = psutil.Process(os.getpid() if pid is None else pid).children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []   # `pid` has ended (or is not ours to look at): nothing to find
    return [p for p in found if _running(p)]


def descendants(pid: int | None = None) -> list[int]:
    """Process ids of every running descendant of `pid` (default: this process), each
    parent before its children."""
    return [p.pid for p in _descendants(pid)]


def _cmdline(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return ""


def kill_descendants(spare: str | None = None) -> None:
    """SIGKILL every descendant of this process (they hold no state worth saving), except
    those whose command line contains `spare`.

    Repeated a few times: a child may have started another one while the list was read.
    """
    for _ in range(5):
        found = [p for p in _descendants(None) if not (spare and spare in _cmdline(p))]
        if not found:
            return
        for child in found:
            # psutil checks the pid still names the process found (not a reused pid)
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                child.send_signal(signal.SIGKILL)


#: Spared by the kill: multiprocessing's resource tracker does no work of ours and ends
#: with this process; killed, it is relaunched during the pool's shutdown and prints a
#: KeyError traceback per semaphore it never saw.
_RESOURCE_TRACKER = "multiprocessing.resource_tracker"


def _on_signal(signum, frame):
    _RECEIVED.append(signum)
    _STOPPING.set()
    kill_descendants(spare=_RESOURCE_TRACKER)
    raise Interrupted(signum)


def _on_signal_keep_children(signum, frame):
    _RECEIVED.append(signum)
    _STOPPING.set()
    raise Interrupted(signum)


def _quiet_about_interrupts(default_hook):
    """An unraisable-exception hook that drops an `Interrupted` swallowed by a destructor
    (handled() turns the failure that follows into one) and passes everything else on."""
    def hook(unraisable):
        if not isinstance(unraisable.exc_value, Interrupted):
            default_hook(unraisable)
    return hook


@contextlib.contextmanager
def handled(*, kill_children: bool = True):
    """Within the block (main thread only), SIGINT and SIGTERM raise `Interrupted`.

    kill_children=False leaves the children to the code that unwinds (e.g. a Dask local
    cluster, which shuts its worker processes and their helpers down in order).
    """
    _RECEIVED.clear()   # nothing unwinds yet: no signal has arrived in this run
    _STOPPING.clear()
    handler = _on_signal if kill_children else _on_signal_keep_children
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    previous_hook, sys.unraisablehook = sys.unraisablehook, _quiet_about_interrupts(
        sys.unraisablehook)
    try:
        yield
    except Interrupted:
        raise
    except BaseException as exc:
        if _RECEIVED:   # the signal landed where Python swallowed it; this is its effect
            raise Interrupted(_RECEIVED[0]) from exc
        raise
    finally:
        sys.unraisablehook = previous_hook
        for s, handler in previous.items():
            signal.signal(s, handler)


def _record_signal(signum, frame):
    _RECEIVED.append(signum)
    _STOPPING.set()


@contextlib.contextmanager
def deferred():
    """Within `handled()`: a signal received inside this block raises `Interrupted` when
    the block ends, not where it lands.

    For steps that start helper threads and processes (a Dask local cluster): stopped
    half-way, they leave threads that go on creating files after the cleanup removed
    their folder. Finished, the step's own shutdown stops them in order.
    """
    before = len(_RECEIVED)
    previous = {s: signal.signal(s, _record_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if len(_RECEIVED) > before:
        raise Interrupted(_RECEIVED[before])


def exit_on_signal(prog: str) -> None:
    """From now on SIGINT or SIGTERM ends this process at once with status 128 + N and
    the one line `handled()`'s callers print ("PROG: interrupted (SIGINT), stopped").

    For a program's moments before a command starts (its imports, its parsing): there is
    nothing to unwind yet, and Python's own handler would print a KeyboardInterrupt
    traceback.
    """
    def exit_now(signum, frame):
        name = signal.Signals(signum).name
        os.write(2, f"{prog}: interrupted ({name}), stopped\n".encode())
        os._exit(128 + signum)

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, exit_now)


def ignore_late_signals() -> None:
    """From now on SIGINT and SIGTERM are ignored: the command has finished, its outputs
    are published and its cleanup has run; the process only has to end.

    Python's interpreter shutdown resets every handler it installed to the default
    (which kills the process with no word, status -N, or prints a traceback), but leaves
    an ignored signal ignored.
    """
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
