import pickle

import numpy as np
import pytest

import bpopt


def test_n_params_and_layout():
    net = bpopt.MLP([3, 4, 2])
    assert net.n_params == 3 * 4 + 4 + 4 * 2 + 2
    theta = np.arange(net.n_params, dtype=float)
    (W1, b1), (W2, b2) = net.unflatten(theta)
    np.testing.assert_array_equal(W1, np.arange(12).reshape(3, 4))
    np.testing.assert_array_equal(b1, [12, 13, 14, 15])
    np.testing.assert_array_equal(W2, np.arange(16, 24).reshape(4, 2))
    np.testing.assert_array_equal(b2, [24, 25])


def test_unflatten_returns_views():
    net = bpopt.MLP([3, 5, 4, 2])
    theta = net.init(seed=0)
    for W, b in net.unflatten(theta):
        assert np.shares_memory(W, theta) and np.shares_memory(b, theta)
    W, b = net.unflatten(theta)[1]
    W[2, 3] = 7.5
    b[1] = -2.0
    assert theta[3 * 5 + 5 + 2 * 4 + 3] == 7.5
    assert theta[3 * 5 + 5 + 5 * 4 + 1] == -2.0


def test_flatten_inverts_unflatten():
    net = bpopt.MLP([3, 5, 4, 2])
    theta = net.init(seed=1)
    again = net.flatten(net.unflatten(theta))
    np.testing.assert_array_equal(again, theta)
    assert not np.shares_memory(again, theta)


def test_flatten_checks_shapes():
    net = bpopt.MLP([3, 2])
    with pytest.raises(ValueError, match=r"layer 1 needs W \(3, 2\)"):
        net.flatten([(np.zeros((2, 3)), np.zeros(2))])
    with pytest.raises(ValueError, match="1 \\(W, b\\) pairs; got 2"):
        net.flatten([(np.zeros((3, 2)), np.zeros(2))] * 2)


def test_unflatten_checks_theta():
    net = bpopt.MLP([3, 2])
    with pytest.raises(ValueError, match=r"shape \(8,\); got \(7,\)"):
        net.unflatten(np.zeros(7))
    with pytest.raises(TypeError, match="NumPy array"):
        net.unflatten([0.0] * 8)


@pytest.mark.parametrize("scheme", ["glorot", "he"])
def test_init_schemes(scheme):
    net = bpopt.MLP([400, 300, 10])
    theta = net.init(seed=0, scheme=scheme)
    (W1, b1), (W2, b2) = net.unflatten(theta)
    assert not b1.any() and not b2.any()
    if scheme == "glorot":
        limit = np.sqrt(6 / 700)
        assert np.abs(W1).max() <= limit
        # uniform on +-limit has standard deviation limit / sqrt(3)
        np.testing.assert_allclose(W1.std(), limit / np.sqrt(3), rtol=0.02)
    else:
        np.testing.assert_allclose(W1.std(), np.sqrt(2 / 400), rtol=0.02)
        np.testing.assert_allclose(W2.std(), np.sqrt(2 / 300), rtol=0.05)
    np.testing.assert_array_equal(theta, net.init(seed=0, scheme=scheme))
    assert not np.array_equal(theta, net.init(seed=1, scheme=scheme))


def test_init_rejects_unknown_scheme():
    with pytest.raises(ValueError, match=r"\['glorot', 'he'\]; got 'xavier'"):
        bpopt.MLP([2, 1]).init(scheme="xavier")


def test_forward_matches_a_plain_numpy_network():
    rng = np.random.default_rng(0)
    net = bpopt.MLP([3, 5, 4, 2], activation=["relu", "logistic"])
    theta = net.init(seed=2)
    X = rng.normal(size=(6, 3))
    (W1, b1), (W2, b2), (W3, b3) = net.unflatten(theta)
    a1 = np.maximum(X @ W1 + b1, 0)
    a2 = 1 / (1 + np.exp(-(a1 @ W2 + b2)))
    np.testing.assert_allclose(net.forward(theta, X), a2 @ W3 + b3, rtol=1e-14)


def test_linear_model_without_hidden_layer():
    net = bpopt.MLP([3, 2])
    assert net.activations == ()
    theta = net.init(seed=0)
    X = np.eye(3)
    W, b = net.unflatten(theta)[0]
    np.testing.assert_allclose(net.forward(theta, X), W + b)


@pytest.mark.parametrize(
    "sizes, error, match",
    [
        ([3], ValueError, "at least 2 entries"),
        ([3, 0, 1], ValueError, "positive"),
        ([3, 2.5, 1], TypeError, "integers"),
        (3, TypeError, "sequence of layer widths"),
    ],
)
def test_sizes_errors(sizes, error, match):
    with pytest.raises(error, match=match):
        bpopt.MLP(sizes)


def test_activation_list_must_match_hidden_layers():
    with pytest.raises(ValueError, match=r"one entry per hidden layer \(2\); got 1"):
        bpopt.MLP([3, 4, 4, 1], activation=["tanh"])


def test_network_pickles():
    net = bpopt.MLP([3, 4, 1], activation="softplus")
    again = pickle.loads(pickle.dumps(net))
    theta = net.init(seed=0)
    X = np.ones((2, 3))
    np.testing.assert_array_equal(again.forward(theta, X), net.forward(theta, X))
    assert repr(again) == "MLP([3, 4, 1], activation='softplus')"
