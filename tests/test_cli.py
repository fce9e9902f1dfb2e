"""The command line: ``bpopt compare`` and ``bpopt problems``, errors included.

Each case runs ``main(argv)`` in this process; one smoke test runs
``python -m bpopt`` as a user would.
"""

import io
import json
import os
import subprocess
import sys

import pytest

from bpopt import _cli, problems
from bpopt._cli import ProgressLine, main

QUICK = ["compare", "--problem", "xor", "--methods", "L-BFGS-B,CG",
         "--maxiter", "5"]


def run(argv, capsys):
    """Exit status, stdout and stderr of ``main(argv)``."""
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own exits
        status = exc.code
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, expected_status, match):
    assert status == expected_status
    assert err.count("\n") == 1 and err.startswith("bpopt")
    assert "error" in err and match in err
    assert "Traceback" not in err


# what works

def test_problems_lists_every_problem(capsys):
    status, out, _ = run(["problems"], capsys)
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == list(problems.PROBLEMS)


def test_compare_prints_a_table_and_progress(capsys):
    status, out, err = run(QUICK, capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("xor: ")
    assert lines[1].split()[:2] == ["method", "loss"]
    assert [line.split()[0] for line in lines[3:]] == ["L-BFGS-B", "CG"]
    assert "test acc" in lines[1]
    assert "L-BFGS-B: iteration 0, loss" in err and "CG: iteration 0" in err


def test_quiet_silences_stderr(capsys):
    status, out, err = run(QUICK + ["--quiet"], capsys)
    assert status == 0 and err == "" and "L-BFGS-B" in out


def test_compare_writes_files(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    paths = {flag: tmp_path / f"out.{suffix}" for flag, suffix in
             (("csv", "csv"), ("json", "json"), ("plot", "png"))}
    argv = QUICK + ["--seeds", "2", "--quiet"]
    for flag, path in paths.items():
        argv += [f"--{flag}", str(path)]
    status, out, _ = run(argv, capsys)
    assert status == 0 and "loss range" in out
    assert len(paths["csv"].read_text().splitlines()) == 1 + 2 * 2
    assert len(json.loads(paths["json"].read_text())["records"]) == 4
    assert paths["plot"].read_bytes()[:4] == b"\x89PNG"


def test_options_reach_the_comparison(monkeypatch, capsys):
    seen = {}

    def fake_compare(obj, methods, **kwargs):
        seen.update(kwargs, methods=methods, hidden=obj.net.sizes[1], l2=obj.l2)
        raise KeyboardInterrupt  # stop here, and check the interrupt path

    monkeypatch.setattr(_cli, "compare", fake_compare)
    status, _, err = run(["compare", "--problem", "regression", "--hidden", "4",
                          "--l2", "0.5", "--methods", "trf,lm", "--seeds", "3",
                          "--maxiter", "7", "--max-time", "none"], capsys)
    assert status == 130 and "interrupted" in err
    assert seen["methods"] == "trf,lm" and list(seen["seeds"]) == [0, 1, 2]
    assert (seen["hidden"], seen["l2"], seen["maxiter"]) == (4, 0.5, 7)
    assert seen["max_time"] is None and seen["test"] is not None


def test_defaults(monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(_cli, "compare",
                        lambda obj, methods, **kw: seen.update(kw) or 1 / 0)
    with pytest.raises(ZeroDivisionError):  # a bug is not hidden as a line
        main(["compare", "--problem", "xor"])
    assert seen["maxiter"] == _cli.DEFAULT_MAXITER
    assert seen["max_time"] == _cli.DEFAULT_MAX_TIME
    assert list(seen["seeds"]) == [0]


@pytest.mark.parametrize("argv", [["--help"], ["compare", "--help"],
                                  ["--version"]])
def test_help_and_version(argv, capsys):
    status, out, _ = run(argv, capsys)
    assert status == 0 and "bpopt" in out


def test_progress_line_on_a_terminal():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    line = ProgressLine(stream)
    line("CG", 0, 1.5, 0.0)
    line("CG", 1, 1.0, 0.01)  # too soon: skipped
    line("BFGS", 0, 2.0, 0.0)
    line.close()
    text = stream.getvalue()
    assert text.count("\r\x1b[K") == 3 and "\n" not in text
    assert "CG: iteration 0, loss 1.5" in text and "iteration 1" not in text


# every error path: one line on stderr, a non-zero status, no traceback

@pytest.mark.parametrize("argv, match", [
    ([], "arguments are required: COMMAND"),
    (["train"], "invalid choice: 'train'"),
    (["compare"], "--problem"),
    (["compare", "--problem", "mnist"], "unknown problem 'mnist'"),
    (QUICK + ["--hidden", "0"], "--hidden: expected a positive integer; got '0'"),
    (QUICK + ["--hidden", "many"], "expected a positive integer; got 'many'"),
    (QUICK + ["--seeds", "-1"], "--seeds: expected a positive integer"),
    (QUICK + ["--maxiter", "2.5"], "--maxiter: expected a positive integer"),
    (QUICK + ["--max-time", "0"], "--max-time: expected a positive number"),
    (QUICK + ["--max-time", "inf"], "--max-time: expected a positive number"),
    (QUICK + ["--l2", "-1"], "--l2: expected a non-negative number"),
    (QUICK + ["--l2", "nan"], "--l2: expected a non-negative number"),
    (QUICK + ["--frobnicate"], "unrecognized arguments: --frobnicate"),
])
def test_bad_arguments(argv, match, capsys):
    status, _, err = run(argv, capsys)
    assert_one_line_error(status, err, 2, match)


@pytest.mark.parametrize("methods, match", [
    ("L-BFGS-B,simplex", "unknown method 'simplex'"),
    ("Newton-CG:exact", "unknown curvature 'exact'"),
    ("trf", "needs an objective with loss 'squared_error'"),
    ("CG,CG", "repeated labels"),
    (",", "methods is empty"),
])
def test_bad_methods(methods, match, capsys):
    argv = ["compare", "--problem", "xor", "--methods", methods]
    status, out, err = run(argv, capsys)
    assert_one_line_error(status, err, 1, match)
    assert "method" not in out  # stopped before any run


def test_missing_matplotlib(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, out, err = run(QUICK + ["--plot", str(tmp_path / "p.png")], capsys)
    assert_one_line_error(status, err, 1, 'needs matplotlib: pip install "bpopt[plot]"')
    assert out == ""  # checked before running


def test_plot_suffix_must_name_a_format(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    status, out, err = run(QUICK + ["--plot", str(tmp_path / "p.plot")], capsys)
    assert_one_line_error(status, err, 1, "--plot")
    assert "expected one of" in err and "png" in err and "'plot'" in err
    assert out == ""  # checked before running


def test_missing_sklearn(monkeypatch, capsys):
    for module in ("sklearn", "sklearn.datasets", "sklearn.model_selection"):
        monkeypatch.setitem(sys.modules, module, None)
    status, _, err = run(["compare", "--problem", "digits"], capsys)
    assert_one_line_error(status, err, 1, 'needs scikit-learn for its data')


@pytest.mark.parametrize("flag", ["csv", "json", "plot"])
@pytest.mark.parametrize("where, match", [
    ("missing/out.x", "does not exist"),
    (".", "is a directory"),
])
def test_unwritable_paths(flag, where, match, tmp_path, capsys):
    status, out, err = run(QUICK + [f"--{flag}", str(tmp_path / where)], capsys)
    assert_one_line_error(status, err, 1, f"--{flag}")
    assert match in err and out == ""


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="permissions are not enforced here")
def test_read_only_folder(tmp_path, capsys):
    tmp_path.chmod(0o500)
    try:
        status, _, err = run(QUICK + ["--csv", str(tmp_path / "r.csv")], capsys)
    finally:
        tmp_path.chmod(0o700)
    assert_one_line_error(status, err, 1, "not writable")


def test_python_dash_m_smoke():
    done = subprocess.run([sys.executable, "-m", "bpopt", *QUICK, "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "L-BFGS-B" in done.stdout and done.stderr == ""


def test_console_script_points_at_main():
    from importlib.metadata import entry_points

    scripts = {ep.name: ep.value for ep in entry_points(group="console_scripts")}
    assert scripts.get("bpopt") == "bpopt._cli:main"
