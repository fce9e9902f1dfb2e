import numpy as np
import pytest

import bpopt
from bpopt import ACTIVATIONS, Activation

# a grid avoiding the kinks of relu and leaky_relu at zero
Z = np.concatenate([np.linspace(-4, -0.05, 40), np.linspace(0.05, 4, 40)])
# step for central differences of smooth float64 functions: error ~ h^2 f'''
H = 1e-5


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_first_derivative_matches_central_differences(name):
    act = ACTIVATIONS[name]
    fd = (act.f(Z + H) - act.f(Z - H)) / (2 * H)
    np.testing.assert_allclose(act.df(Z, act.f(Z)), fd, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_second_derivative_matches_central_differences(name):
    act = ACTIVATIONS[name]
    df = lambda z: act.df(z, act.f(z))  # noqa: E731
    fd = (df(Z + H) - df(Z - H)) / (2 * H)
    np.testing.assert_allclose(act.d2f(Z, act.f(Z)), fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_in_place_hooks_agree_with_the_plain_functions(name):
    act = ACTIVATIONS[name]
    z = Z.reshape(8, 10).copy()
    a = np.empty_like(z)
    act.apply_(z, a)
    np.testing.assert_allclose(a, act.f(z), rtol=1e-15)

    delta = np.linspace(-1, 1, z.size).reshape(z.shape)
    expected = delta * act.df(z, a)
    act.mul_df_(delta, z, a, np.empty_like(z))
    np.testing.assert_allclose(delta, expected, rtol=1e-14)

    d1, d2 = np.full_like(z, np.nan), np.full_like(z, np.nan)
    out = act.derivatives_(z, a, d1, d2)
    np.testing.assert_allclose(d1, act.df(z, a), rtol=1e-14)
    if out is None:    # f'' is zero: the caller skips the term
        assert not act.d2f(z, a).any()
    else:
        assert out is d2
        np.testing.assert_allclose(d2, act.d2f(z, a), rtol=1e-14, atol=1e-300)


def test_derivatives_of_a_user_activation_go_into_the_buffers():
    act = Activation("cube", lambda z: z**3, lambda z, a: 3 * z**2,
                     lambda z, a: 6 * z)
    z = Z.reshape(8, 10)
    d1, d2 = np.empty_like(z), np.empty_like(z)
    assert act.derivatives_(z, z**3, d1, d2) is d2
    np.testing.assert_array_equal(d1, 3 * z**2)
    np.testing.assert_array_equal(d2, 6 * z)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_apply_in_place_on_z(name):
    act = ACTIVATIONS[name]
    z = Z.copy()
    act.apply_(z, z)
    np.testing.assert_allclose(z, act.f(Z), rtol=1e-15)


def test_softplus_is_exact_and_stable():
    z = np.array([-800.0, -30.0, 0.0, 30.0, 800.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = ACTIVATIONS["softplus"].f(z)
    # log(1 + e^z) = e^z (1 - e^z / 2 + ...) for very negative z, z for large z
    assert a[0] == 0.0 and a[-1] == 800.0
    np.testing.assert_allclose(a[1], np.exp(-30.0), rtol=1e-12)
    np.testing.assert_allclose(a[2], np.log(2.0), rtol=1e-15)
    np.testing.assert_allclose(a[3], 30.0 + np.log1p(np.exp(-30.0)), rtol=1e-15)


def test_leaky_relu_slope():
    act = ACTIVATIONS["leaky_relu"]
    np.testing.assert_array_equal(act.f(np.array([-2.0, 3.0])), [-0.02, 3.0])


def _cube(z):
    return z ** 3


def _dcube(z, a):
    return 3 * z ** 2


def _d2cube(z, a):
    return 6 * z


def test_user_activation_in_a_network_keeps_z():
    cube = Activation("cube", _cube, _dcube, _d2cube)
    net = bpopt.MLP([2, 3, 1], activation=cube)
    assert net.activations == (cube,)
    theta = net.init(seed=0)
    W1, b1 = net.unflatten(theta)[0]
    W2, b2 = net.unflatten(theta)[1]
    X = np.array([[0.5, -1.0], [2.0, 0.1]])
    expected = ((X @ W1 + b1) ** 3) @ W2 + b2
    np.testing.assert_allclose(net.forward(theta, X), expected, rtol=1e-14)


def test_activation_rejects_non_callables_and_wrong_signatures():
    with pytest.raises(TypeError, match="df must be callable"):
        Activation("bad", np.tanh, 3.0, _d2cube)
    with pytest.raises(TypeError, match=r"d2f must take \(z, a\)"):
        Activation("bad", np.tanh, _dcube, _cube)


def test_unknown_activation_lists_valid_names():
    with pytest.raises(ValueError, match="leaky_relu.*got 'sigmoid'"):
        bpopt.MLP([2, 3, 1], activation="sigmoid")
    with pytest.raises(TypeError, match="got int"):
        bpopt.MLP([2, 3, 1], activation=3)
