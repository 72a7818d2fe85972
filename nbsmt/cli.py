"""The `nbsmt` command: one subcommand per capability, each in `nbsmt/commands/<name>.py`.

A command module provides `register(subparsers)` which adds its parser and sets
`func=run`. Heavy imports (amaranth, cocotb, yosys) happen inside `run`, so `--help` and
the pure-numpy commands stay fast. Any `InputError`
becomes one line on stderr and exit status 2; Ctrl-C or SIGTERM stops child processes
and exits 130 or 143 with one line (`nbsmt.core.interrupts`); other exceptions are bugs and
keep their traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings

from nbsmt.core.errors import InputError
from nbsmt.core.interrupts import Interrupted, exit_on_signal, handled, ignore_late_signals

COMMANDS = ("gemm", "verilog", "synth", "sim", "eval", "sweep", "formal", "energy", "export")


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the problem), not usage plus problem."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def under_build(sub: str) -> str:
    """How --help names a default under the build folder (`BuildDefault`)."""
    return f"$NBSMT_BUILD_DIR/{sub}, build/{sub} when unset"


class BuildDefault:
    """The default of a path flag under the build folder: `$NBSMT_BUILD_DIR/<sub>`, or
    ./build/<sub> when the variable is unset (`nbsmt.core.cache.build_root`).

    `main` resolves it to a Path when the command runs, not when the parser is built, so
    the variable set after import counts; its text is the --help wording (`%(default)s`).
    """

    def __init__(self, sub: str):
        self.sub = sub

    def path(self):
        from nbsmt.core.cache import build_root
        return build_root() / self.sub

    def __fspath__(self) -> str:      # a namespace from parse_args alone still works
        return str(self.path())

    def __str__(self) -> str:
        return under_build(self.sub)


def resolve_build_defaults(args) -> None:
    """Replace every `BuildDefault` left in the parsed flags by its path, now."""
    for name, value in vars(args).items():
        if isinstance(value, BuildDefault):
            setattr(args, name, value.path())


#: What a path flag names, set on its argparse action by `path_flag` (`action.nbsmt_path`):
#: the files a command reads, writes or keeps a cache in. tests/test_hostile.py walks the
#: parser for these tags to run every command against hostile paths and files, and fails
#: on a flag that looks like a path but has no tag.
PATH_ROLES = {
    "operand": "an input .npy operand (A or W)",
    "workload": "a workload name or two input .npy operands, A.npy,W.npy",
    "timing-report": "an input timing report (JSON) of `nbsmt synth`",
    "energy-report": "an input energy report (JSON) of `nbsmt energy`",
    "liberty": "an input Liberty library",
    "model": "an input ONNX model",
    "images": "a data set name or input images X.npy (and labels, X.npy,Y.npy)",
    "output-file": "an output file",
    "output-folder": "an output folder (a report's files)",
    "cache-folder": "a cache folder, read and written during the work",
}


def path_flag(action: argparse.Action, role: str) -> argparse.Action:
    """Tag the path flag `action` with its role (a key of PATH_ROLES) and return it.

    A cache folder is also checked when the flag is parsed: an existing file, or a place
    where no folder can be made, is a usage error before any work (entries are written
    during the work, too late for a clean refusal)."""
    if role not in PATH_ROLES:
        raise ValueError(f"unknown path role {role!r}")
    action.nbsmt_path = role
    if role == "cache-folder":
        action.type = _cache_folder
    return action


def report_flags(parser: argparse.ArgumentParser, folder: str, files: str, *,
                 json: bool = True) -> None:
    """--out DIR (default: the build folder's `folder`), the report folder holding `files`,
    and, with `json`, --json F, a copy of its JSON record elsewhere."""
    path_flag(parser.add_argument("--out", default=BuildDefault(folder), metavar="DIR",
                                  help=f"report folder: {files} (default: %(default)s)"),
              "output-folder")
    if json:
        path_flag(parser.add_argument("--json", metavar="F",
                                      help="also write the JSON record to F"), "output-file")


def cluster_flags(parser, *, default_workers: str) -> None:
    """--scheduler ADDR or --workers N (exclusive), and --scheduler-timeout S: where a
    command's Dask tasks run (`nbsmt.sweep.cluster.cluster_client`)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDR",
                       help="address of a running Dask scheduler, e.g. tcp://HOST:8786")
    where.add_argument("--workers", type=int, metavar="N",
                       help=f"worker processes of a local Dask cluster (default: "
                            f"{default_workers}; 0: no cluster, run tasks in this process)")
    parser.add_argument("--scheduler-timeout", type=float, default=30.0, metavar="S",
                        help="seconds to wait for a scheduler to answer, for a first worker, "
                             "or for a worker while none is left (default: %(default)s)")


def _cache_folder(text: str):
    """--cache DIR as a Path: a folder that exists or can be created, and is writable."""
    from pathlib import Path

    from nbsmt.core.fileio import check_folder
    try:
        check_folder(Path(text))
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return Path(text)


def check_unique_names(flag: str, text: str | None, what: str) -> None:
    """A NAME=VALUE,... flag that names one NAME twice is an InputError naming it."""
    names = [item.partition("=")[0].strip() for item in (text or "").split(",")]
    twice = [n for i, n in enumerate(names) if n and n in names[:i]]
    if twice:
        raise InputError(f"{flag} names {what} {twice[0]} twice: {text}")


def add_pipeline_argument(parser) -> None:
    """--pipeline: the pipeline registers of every PE of the design (hw/pe.py)."""
    from nbsmt.core.policy import PIPELINE_DEPTHS
    parser.add_argument("--pipeline", type=int, default=0, choices=PIPELINE_DEPTHS, metavar="P",
                        help="pipeline registers in every PE, 0, 1 or 2 (default: 0)")


def add_design_option_arguments(parser: argparse.ArgumentParser) -> None:
    """The generator options of a PE or array design (hw/pe.py), each off by default; a
    module name records them (_p1/_p2, _iso, _cg)."""
    g = parser.add_argument_group("design options")
    add_pipeline_argument(g)
    g.add_argument("--operand-isolation", action="store_true",
                   help="an inactive lane's operands reach the multiplier units as zeros "
                        "(an energy option; bit-identical results)")
    g.add_argument("--clock-gating", action="store_true",
                   help="idle registers hold, and synthesis for energy gives every group of "
                        "flops sharing an enable a clock gate (bit-identical results)")


def design_options_from_args(args) -> dict:
    """The `nbsmt.hw.design.Design` options of `add_design_option_arguments`' flags."""
    return {"pipeline": args.pipeline, "isolate_operands": args.operand_isolation,
            "gate_clocks": args.clock_gating}


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """The policy flags every model, simulator and generator command shares (SPEC §2-§5)."""
    from nbsmt.core.policy import ROUNDING_CHOICES, WINDOW_CHOICES, ZERO_SKIP_CHOICES
    g = parser.add_argument_group("policy")
    g.add_argument("--zero-skip", choices=ZERO_SKIP_CHOICES, default="both",
                   help="lane activity: both operands non-zero, or activation only (default: both)")
    g.add_argument("--windows", type=int, choices=WINDOW_CHOICES, default=2,
                   help="activation window positions on a collision (default: 2)")
    g.add_argument("--rounding", choices=ROUNDING_CHOICES, default="rne",
                   help="round half to even or truncate when reducing (default: rne)")
    g.add_argument("--acc-bits", type=int, default=32, help="accumulator width (default: 32)")


def add_gemm_arguments(parser: argparse.ArgumentParser, operands_required: bool = True) -> None:
    """The operand files and thread/mode flags of every command that runs a GEMM
    (operands_required=False: the command checks --a/--w itself, e.g. against --network)."""
    from nbsmt.core.policy import THREAD_CHOICES
    path_flag(parser.add_argument("--a", required=operands_required, metavar="A.npy",
                                  help="activations, integers [M,K] in [0,255]"), "operand")
    path_flag(parser.add_argument("--w", required=operands_required, metavar="W.npy",
                                  help="weights, integers [K,N] in [-128,127]"), "operand")
    parser.add_argument("--threads", type=int, required=True, choices=THREAD_CHOICES,
                        help="lanes per PE (T)")
    parser.add_argument("--mode", type=int, choices=THREAD_CHOICES,
                        help="lanes used, m <= T (default: T)")
    add_policy_arguments(parser)


def pdk_files(spec: str | None) -> list:
    """The Liberty files `--pdk spec` names (the default library without it), for a
    command's inputs check before any work; InputError when a named one is missing."""
    from nbsmt.synth import pdk
    from nbsmt.synth.liberty import LibertyError
    try:
        return pdk.resolve(spec or pdk.default_name())
    except LibertyError as exc:
        raise InputError(str(exc)) from None


def int_arg(flag: str, value: int, low: int, high: int | None = None) -> int:
    """An integer flag checked by `nbsmt.core.policy.check_int` (InputError, same wording)."""
    from nbsmt.core.policy import check_int
    try:
        return check_int(flag, value, low, high)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None


def array_dim_from_args(flag: str, value: int) -> int:
    """An array dimension flag checked against the generator's limit (InputError if not)."""
    from nbsmt.hw.design import MAX_DIM
    return int_arg(flag, value, 1, MAX_DIM)


def array_shape_from_args(args) -> tuple[int, int] | None:
    """(rows, cols) of --rows/--cols, cols defaulting to rows; None when neither is given.

    The one rule of every command that takes both: --cols alone is an InputError.
    """
    if args.rows is None:
        if args.cols is not None:
            raise InputError("--cols needs --rows")
        return None
    rows = array_dim_from_args("--rows", args.rows)
    return rows, array_dim_from_args("--cols", args.cols) if args.cols is not None else rows


def policy_from_args(args):
    """The validated Policy of the parsed flags (a bad combination is an InputError)."""
    from nbsmt.core.policy import Policy
    try:
        return Policy(zero_skip=args.zero_skip, windows=args.windows, rounding=args.rounding,
                      acc_bits=args.acc_bits)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None


def threads_mode_from_args(args):
    """(threads, mode) of the parsed --threads/--mode flags; mode defaults to threads."""
    from nbsmt.core.policy import check_mode, check_threads
    try:
        threads = check_threads(args.threads)
        return threads, check_mode(threads if args.mode is None else args.mode, threads)
    except (TypeError, ValueError) as exc:
        raise InputError(str(exc)) from None


@contextlib.contextmanager
def fits_in_memory(a, w):
    """Turn running out of memory on A[M,K] x W[K,N] into an InputError naming the sizes."""
    try:
        yield
    except MemoryError:
        (m_rows, k), n_cols = a.shape, w.shape[1]
        raise InputError(f"A[{m_rows},{k}] x W[{k},{n_cols}] ({a.nbytes + w.nbytes:,} bytes of "
                         f"operands, {2 * 8 * m_rows * n_cols:,} of results) does not fit in "
                         f"this machine's memory with the model's working block") from None


def build_parser() -> argparse.ArgumentParser:
    from nbsmt import __version__
    parser = Parser(prog="nbsmt", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"nbsmt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for name in COMMANDS:
        importlib.import_module(f"nbsmt.commands.{name}").register(sub)
    return parser


def main(argv=None) -> int:
    """Run one command. Without `argv` (the `nbsmt` program): a signal before the command
    starts ends it with one line and status 128 + N (`exit_on_signal`), one after it has
    finished is ignored (`ignore_late_signals`); the command itself runs in `handled()`."""
    if argv is None:
        argv = sys.argv[1:]
        exit_on_signal(_prog(argv))
        try:
            return _main(argv)
        finally:
            ignore_late_signals()
    return _main([str(a) for a in argv])


def _prog(argv: list[str]) -> str:
    """"nbsmt COMMAND" for messages, known before parsing (a signal may arrive while the
    commands are imported)."""
    command = next((a for a in argv if a in COMMANDS), None)
    return "nbsmt" if command is None else f"nbsmt {command}"


def _main(argv: list[str]) -> int:
    prog = _prog(argv)
    try:
        with handled():
            args = build_parser().parse_args(argv)
            resolve_build_defaults(args)
            args.argv = argv   # what the user typed, for reports that record their command
            return args.func(args) or 0
    except Interrupted as exc:
        # Half-built designs left behind would warn at exit (Amaranth's UnusedElaboratable).
        warnings.simplefilter("ignore")
        print(f"{prog}: interrupted ({exc}), stopped", file=sys.stderr)
        return exc.status
    except InputError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. an --out path in a missing or read-only place
        print(f"{prog}: error: {exc.strerror or exc}: {exc.filename or ''}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
