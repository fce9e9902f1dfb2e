"""bpopt.problems: built-in problems, their data and their parameters."""

import sys

import numpy as np
import pytest

import bpopt
from bpopt import problems

SKLEARN = ("sklearn", "sklearn.datasets", "sklearn.model_selection")

# name -> (input width, output width, loss, train rows, test rows)
SHAPES = {
    "xor": (2, 1, "sigmoid_cross_entropy", 4, 4),
    "digits": (64, 10, "softmax_cross_entropy", 1347, 450),
    "digits_autoencoder": (64, 64, "squared_error", 1347, 450),
    "breast_cancer": (30, 1, "sigmoid_cross_entropy", 426, 143),
    "regression": (5, 1, "squared_error", 375, 125),
}


def needs_data(name):
    if name in problems.NEEDS_SKLEARN:
        pytest.importorskip("sklearn")


def hide_sklearn(monkeypatch):
    for module in SKLEARN:
        monkeypatch.setitem(sys.modules, module, None)


@pytest.mark.parametrize("name", list(problems.PROBLEMS))
def test_problem_shapes_and_objectives(name):
    needs_data(name)
    p = problems.make(name, hidden=3)
    n_in, n_out, loss, n_train, n_test = SHAPES[name]
    assert isinstance(p, problems.Problem) and p.name == name
    assert p.train.net.sizes == (n_in, 3, n_out)
    assert p.test.net is p.train.net
    assert p.train.loss_function.name == loss
    assert (p.train.n_samples, p.test.n_samples) == (n_train, n_test)
    assert p.x0.shape == (p.train.n_params,)
    assert np.array_equal(p.x0, p.train.net.init(0))
    assert np.isfinite(p.train.loss(p.x0)) and np.isfinite(p.test.loss(p.x0))
    assert p.train.l2 > 0 and p.test.l2 == 0
    assert p.description.startswith(problems.describe()[name])
    if name != "xor":
        assert f"{n_train} train / {n_test} test rows" in p.description


def test_description_gives_the_actual_rows():
    p = problems.make("regression", n_samples=100)
    assert p.description.endswith("75 train / 25 test rows")


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "regression"])
def test_features_are_standardised_on_the_training_rows(name):
    needs_data(name)
    p = problems.make(name)
    X = p.train._X
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)
    if name == "digits":  # one pooled scale for all pixels
        assert np.std(X) == pytest.approx(1.0)
    else:
        np.testing.assert_allclose(X.std(axis=0), 1.0)
    assert not np.allclose(p.test._X.mean(axis=0), 0.0, atol=1e-3)


def test_autoencoder_targets_are_its_inputs():
    needs_data("digits_autoencoder")
    p = problems.make("digits_autoencoder")
    assert np.array_equal(p.train._y, p.train._X)
    assert np.array_equal(p.test._y, p.test._X)


@pytest.mark.parametrize("name", ["regression", "breast_cancer"])
def test_seed_changes_start_and_split(name):
    needs_data(name)
    a, b = problems.make(name, seed=0), problems.make(name, seed=1)
    assert not np.array_equal(a.x0, b.x0)
    assert not np.array_equal(a.train._X[:5], b.train._X[:5])
    again = problems.make(name, seed=0)
    assert np.array_equal(a.train._X, again.train._X)


def test_parameters_reach_the_objective():
    p = problems.make("regression", hidden=7, l2=0.5, n_samples=40)
    assert p.train.net.sizes[1] == 7 and p.train.l2 == 0.5
    assert p.train.n_samples + p.test.n_samples == 40
    assert problems.make("regression", hidden=None).train.net.sizes[1] == 16


def test_regression_and_xor_need_no_sklearn(monkeypatch):
    hide_sklearn(monkeypatch)
    assert problems.make("regression").train.n_samples == 375
    assert problems.make("xor").train.n_samples == 4


@pytest.mark.parametrize("name", problems.NEEDS_SKLEARN)
def test_missing_sklearn_is_named(monkeypatch, name):
    hide_sklearn(monkeypatch)
    with pytest.raises(ImportError, match=r"needs scikit-learn.*bpopt\[data\]"):
        problems.make(name)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"name": "mnist"}, ValueError, "unknown problem 'mnist'.*regression"),
    ({"name": "xor", "hidden": 0}, ValueError, "hidden must be a positive"),
    ({"name": "xor", "hidden": 2.5}, TypeError, "hidden must be a positive"),
    ({"name": "regression", "n_samples": 1}, ValueError, "test_size"),
    ({"name": "regression", "l2": -1.0}, ValueError, "l2"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        problems.make(**kwargs)


def test_xor_is_solved_by_a_comparison():
    p = problems.make("xor")
    result = bpopt.compare(p.train, ["L-BFGS-B"], x0=p.x0, maxiter=200,
                           test=p.test)
    assert result.records[0]["test_accuracy"] == 1.0
