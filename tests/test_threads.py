import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

import bpopt
from bpopt import _threads


def _numpy_threads():
    return {lib.filepath: lib.num_threads
            for lib in ThreadpoolController().lib_controllers
            if lib.filepath.startswith(_threads._numpy_dirs())}


@pytest.fixture
def fresh_state(monkeypatch):
    """Forget any earlier choice, and restore SciPy's pool afterwards."""
    before = _threads._current()
    monkeypatch.setitem(_threads._state, "chosen", False)
    monkeypatch.setitem(_threads._state, "original", None)
    yield
    _threads._set(before)


def test_context_sets_and_restores_the_separate_pool(fresh_state):
    pools = _threads._current()
    numpy_before = _numpy_threads()
    with bpopt.scipy_blas_threads(1):
        assert all(n == 1 for n in _threads._current().values())
        assert _numpy_threads() == numpy_before
    assert _threads._current() == pools


def test_none_restores_the_original_setting(fresh_state):
    original = _threads._current()
    bpopt.scipy_blas_threads(1)
    bpopt.scipy_blas_threads(None)
    assert _threads._current() == original


def test_first_objective_applies_the_default_once(fresh_state, monkeypatch):
    monkeypatch.delenv(_threads._ENV, raising=False)
    bpopt.Objective(bpopt.MLP([2, 1]), np.ones((3, 2)), np.ones(3),
                    loss="squared_error")
    assert _threads._state["chosen"]
    assert all(n == 1 for n in _threads._current().values())


def test_environment_variable_opts_out(fresh_state, monkeypatch):
    monkeypatch.setenv(_threads._ENV, "default")
    before = _threads._current()
    _threads.apply_default()
    assert _threads._current() == before


def test_a_user_choice_is_not_overridden(fresh_state):
    bpopt.scipy_blas_threads(None)
    before = _threads._current()
    _threads.apply_default()
    assert _threads._current() == before


@pytest.mark.parametrize("limit", [0, -1, 1.5, True])
def test_bad_limits(limit):
    with pytest.raises(ValueError, match="positive integer or None"):
        bpopt.scipy_blas_threads(limit)
