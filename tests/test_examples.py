"""Each example script runs and does what its docstring says."""

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_digits_lbfgs_reaches_95_percent():
    pytest.importorskip("sklearn")
    ex = load_example("digits_lbfgs")
    X_train, X_test, y_train, y_test = ex.load_digits_split(seed=0)
    net, result = ex.train(X_train, y_train, hidden=32, maxiter=300, seed=0)
    assert ex.accuracy(net, result.x, X_test, y_test) >= 0.95
