"""Command line: ``bpopt compare`` and ``bpopt problems``.

``python -m bpopt compare --problem digits`` runs the default methods on
the digits problem, prints a table on stdout and a progress line on
stderr; ``--plot``, ``--csv`` and ``--json`` write the results. Bad
arguments end with one line on stderr and a non-zero exit status: 2 for
the command line itself, 1 for a problem found while running.
"""

import argparse
import os
import sys
import time

from . import __version__, problems
from ._compare import compare
from ._methods import METHODS

__all__ = ["main", "ProgressLine"]

DEFAULT_METHODS = ("L-BFGS-B,CG,Newton-CG:hessian,Newton-CG:gn,trust-krylov:gn,"
                   "hessian_free")
DEFAULT_MAXITER = 200
DEFAULT_MAX_TIME = 10.0


def main(argv=None):
    """Run the command line on ``argv`` (default ``sys.argv[1:]``).

    Returns the exit status: 0, 1 for an error while running, 2 for bad
    arguments (argparse exits with it), 130 when interrupted.
    """
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, ImportError, OSError) as exc:
        print(f"bpopt: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nbpopt: interrupted", file=sys.stderr)
        return 130


# commands

def run_compare(args):
    """``bpopt compare``: check the outputs, build the problem, run, report."""
    for flag in ("plot", "csv", "json"):
        _check_writable(getattr(args, flag), flag)
    if args.plot is not None:
        _check_plot_format(args.plot)
    problem = problems.make(args.problem, hidden=args.hidden, l2=args.l2)
    train = problem.train
    progress = None if args.quiet else ProgressLine(sys.stderr)
    print(f"{problem.name}: {problem.description}; {train.net}, "
          f"{train.n_params} parameters; maxiter {args.maxiter}, max time "
          f"{_seconds(args.max_time)} per run, {args.seeds} seed(s)")
    result = compare(train, args.methods, seeds=range(args.seeds),
                     maxiter=args.maxiter, max_time=args.max_time,
                     test=problem.test, progress=progress)
    if progress is not None:
        progress.close()
    print(result.table())
    for flag, write in (("csv", result.to_csv), ("json", result.to_json),
                        ("plot", result.plot)):
        path = getattr(args, flag)
        if path is not None:
            write(path)
            if not args.quiet:
                print(f"wrote {path}", file=sys.stderr)
    return 0


def run_problems(args):
    """``bpopt problems``: one line per built-in problem."""
    described = problems.describe()
    width = max(map(len, described))
    for name, text in described.items():
        print(f"{name.ljust(width)}  {text}")
    return 0


class ProgressLine:
    """``progress`` for :func:`bpopt.compare` that writes to a stream.

    On a terminal, one line rewritten in place; elsewhere, a line when a
    run starts and then at most one every ``interval`` seconds.
    """

    def __init__(self, stream, interval=1.0):
        self.stream, self.interval = stream, interval
        self.tty = stream.isatty()
        self.method, self.last = None, 0.0

    def __call__(self, method, iteration, loss, elapsed):
        now = time.monotonic()
        wait = 0.1 if self.tty else self.interval
        if method == self.method and now - self.last < wait:
            return
        self.method, self.last = method, now
        line = f"{method}: iteration {iteration}, loss {loss:.6g}, {elapsed:.1f} s"
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self):
        if self.tty and self.method is not None:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


# arguments

class _Parser(argparse.ArgumentParser):
    """Errors as one line, with a pointer to ``--help``."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser():
    parser = _Parser(prog="bpopt", description=(
        "Compare optimizers on neural-network training problems, with "
        "gradients and curvature products from backpropagation."))
    parser.add_argument("--version", action="version",
                        version=f"bpopt {__version__}")
    commands = parser.add_subparsers(title="commands", required=True,
                                     metavar="COMMAND", parser_class=_Parser)

    cmp = commands.add_parser(
        "compare", help="run several methods on a built-in problem",
        description=(
            "Run each method from the same starting points, print a table of "
            "final loss, solver time, iterations, evaluations, test metrics "
            "and status, and optionally plot loss against time and against "
            "passes over the data."),
        epilog=(
            f"methods: {', '.join(METHODS)}; or NAME:hessian / NAME:gn for "
            "the exact Hessian or Gauss-Newton curvature (Newton-CG, trust-*, "
            "hessian_free). trf and lm are for squared-error problems. "
            "TNC, trf and lm count --maxiter in function evaluations. "
            "Example: python -m bpopt compare --problem digits --hidden 32 "
            "--methods L-BFGS-B,Newton-CG,hessian_free --seeds 3 --maxiter 200 "
            "--plot out.png --csv out.csv"))
    cmp.add_argument("--problem", required=True, type=_problem_name,
                     help=f"one of: {', '.join(problems.PROBLEMS)}")
    cmp.add_argument("--hidden", type=_positive_int, default=None, metavar="N",
                     help="hidden units (default: the problem's own)")
    cmp.add_argument("--l2", type=_non_negative_float, default=None,
                     help="weight decay (default: the problem's own)")
    cmp.add_argument("--methods", default=DEFAULT_METHODS, metavar="LIST",
                     help=f"comma-separated (default: {DEFAULT_METHODS})")
    cmp.add_argument("--seeds", type=_positive_int, default=1, metavar="N",
                     help="starting points 0..N-1 per method; the table shows "
                          "medians and ranges (default: 1)")
    cmp.add_argument("--maxiter", type=_positive_int, default=DEFAULT_MAXITER,
                     metavar="N", help=f"iterations per run (default: "
                                       f"{DEFAULT_MAXITER})")
    cmp.add_argument("--max-time", type=_time_limit, default=DEFAULT_MAX_TIME,
                     metavar="S", help=f"seconds of solver time per run, or "
                                       f"'none' (default: {DEFAULT_MAX_TIME:g})")
    cmp.add_argument("--plot", metavar="PNG", help="write the loss plot here "
                     "(needs matplotlib)")
    cmp.add_argument("--csv", metavar="PATH", help="write one row per run here")
    cmp.add_argument("--json", metavar="PATH",
                     help="write every record, with the iteration histories")
    cmp.add_argument("--quiet", action="store_true",
                     help="no progress line on stderr")
    cmp.set_defaults(run=run_compare)

    lst = commands.add_parser("problems", help="list the built-in problems",
                              description="List the built-in problems.")
    lst.set_defaults(run=run_problems)
    return parser


def _problem_name(text):
    if text not in problems.PROBLEMS:
        raise argparse.ArgumentTypeError(
            f"unknown problem {text!r}; choose one of {', '.join(problems.PROBLEMS)}")
    return text


def _number(text, kind, ok, expected):
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"expected {expected}; got {text!r}")
    return value


def _positive_int(text):
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def _time_limit(text):
    if text.strip().lower() == "none":
        return None
    return _number(text, float, lambda v: 0 < v < float("inf"),
                   "a positive number of seconds or 'none'")


def _non_negative_float(text):
    return _number(text, float, lambda v: 0 <= v < float("inf"),
                   "a non-negative number")


def _check_writable(path, flag):
    """Fail before running when ``path`` cannot be written."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OSError(f"--{flag} {path}: is a directory")
    if not os.path.isdir(folder):
        raise OSError(f"--{flag} {path}: directory {folder} does not exist")
    if not os.access(folder, os.W_OK) or (
            os.path.exists(path) and not os.access(path, os.W_OK)):
        raise OSError(f"--{flag} {path}: not writable")


def _check_plot_format(path):
    """Fail before running when matplotlib is missing or cannot write ``path``."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError('--plot needs matplotlib: pip install "bpopt[plot]"'
                          ) from None
    del matplotlib
    formats = Figure().canvas.get_supported_filetypes()
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    if suffix not in formats:
        raise ValueError(f"--plot {path}: the suffix names the image format; "
                         f"expected one of {', '.join(sorted(formats))}, "
                         f"got {suffix or 'none'!r}")


def _seconds(value):
    return "none" if value is None else f"{value:g} s"

