"""Feed-forward networks on one flat parameter vector.

Glossary, used throughout bpopt:

``theta``
    the flat float64 parameter vector (SciPy calls it ``x``);
``W``, ``b``
    weight ``(fan_in, fan_out)`` and bias ``(fan_out,)`` of one layer,
    views into ``theta``;
``z``, ``a``
    pre-activations and activations, one row per sample;
``delta``
    ``dL/dz``, the error backpropagated to a layer;
``g``
    the gradient; ``v`` a direction in parameter space;
``Hv``, ``Gv``, ``Jv``
    Hessian-, Gauss-Newton- and Jacobian-vector products.
"""

import numbers
from operator import index

import numpy as np

from . import _passes as passes
from ._activations import get_activation
from ._layout import Layout
from ._validation import check_vector, check_X

__all__ = ["MLP"]

_SCHEMES = ("glorot", "he")


class MLP:
    """A multilayer perceptron: dense layers, the last one linear.

    Parameters
    ----------
    sizes : sequence of int
        Widths of the input, the hidden layers and the output; at least
        two entries (two is a linear or logistic model).
    activation : str, Activation or sequence of them, default "tanh"
        The hidden layers' activation: one for all, or one per hidden
        layer. Names: identity, tanh, logistic, relu, softplus,
        leaky_relu.

    Attributes
    ----------
    sizes : tuple of int
    activations : tuple of Activation
        One per hidden layer.
    n_params : int
        Length of the flat parameter vector.

    Notes
    -----
    The flat layout is layer by layer: ``W`` (row-major,
    ``fan_in x fan_out``), then ``b``.
    """

    def __init__(self, sizes, activation="tanh"):
        self.sizes = _check_sizes(sizes)
        n_hidden = len(self.sizes) - 2
        if isinstance(activation, (list, tuple)):
            if len(activation) != n_hidden:
                raise ValueError(
                    f"activation must have one entry per hidden layer "
                    f"({n_hidden}); got {len(activation)}")
            acts = [get_activation(act) for act in activation]
        else:
            acts = [get_activation(activation)] * n_hidden
        self.activations = tuple(acts)
        self.layout = Layout(self.sizes)
        self.n_params = self.layout.n_params

    def __repr__(self):
        names = sorted({act.name for act in self.activations})
        act = names[0] if len(names) == 1 else [a.name for a in self.activations]
        return f"MLP({list(self.sizes)}, activation={act!r})"

    def init(self, seed=None, scheme="glorot"):
        """A new random parameter vector; biases are zero.

        Parameters
        ----------
        seed : int, numpy.random.Generator or None
        scheme : {"glorot", "he"}
            ``"glorot"``: uniform on ``+-sqrt(6 / (fan_in + fan_out))``;
            ``"he"``: normal with standard deviation ``sqrt(2 / fan_in)``.

        Returns
        -------
        theta : ndarray, shape (n_params,), float64
        """
        if scheme not in _SCHEMES:
            raise ValueError(f"scheme must be one of {list(_SCHEMES)}; got {scheme!r}")
        rng = np.random.default_rng(seed)
        theta = np.zeros(self.n_params)
        for (W, _), (fan_in, fan_out) in zip(self.unflatten(theta),
                                             self.layout.shapes):
            if scheme == "glorot":
                limit = np.sqrt(6.0 / (fan_in + fan_out))
                W[...] = rng.uniform(-limit, limit, size=W.shape)
            else:
                W[...] = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=W.shape)
        return theta

    def unflatten(self, theta):
        """Per-layer ``(W, b)``, views into ``theta`` (no copies).

        Parameters
        ----------
        theta : ndarray, shape (n_params,)

        Returns
        -------
        list of (ndarray (fan_in, fan_out), ndarray (fan_out,))
            Writing through a view changes ``theta``.
        """
        if not isinstance(theta, np.ndarray):
            raise TypeError(
                f"theta must be a NumPy array to be viewed; got {type(theta).__name__}")
        if theta.shape != (self.n_params,):
            raise ValueError(
                f"theta must have shape ({self.n_params},); got {theta.shape}")
        return self.layout.unflatten(theta)

    def flatten(self, params):
        """The flat float64 vector of per-layer ``(W, b)`` pairs (a new array)."""
        params = list(params)
        if len(params) != len(self.layout.shapes):
            raise ValueError(
                f"params must hold {len(self.layout.shapes)} (W, b) pairs; "
                f"got {len(params)}")
        for l, ((W, b), (fan_in, fan_out)) in enumerate(
                zip(params, self.layout.shapes), start=1):
            if np.shape(W) != (fan_in, fan_out) or np.shape(b) != (fan_out,):
                raise ValueError(
                    f"layer {l} needs W {(fan_in, fan_out)} and b ({fan_out},); "
                    f"got {np.shape(W)} and {np.shape(b)}")
        return self.layout.flatten(params)

    def forward(self, theta, X):
        """Outputs of the last (linear) layer.

        Parameters
        ----------
        theta : array_like, shape (n_params,)
        X : array_like, shape (n, sizes[0])

        Returns
        -------
        ndarray, shape (n, sizes[-1]), float64
            Logits for the classification losses.
        """
        theta = check_vector(theta, "theta", self.n_params)
        X = np.asarray(check_X(X, self.sizes[0]), dtype=np.float64)
        n = X.shape[0]
        a = [X] + [np.empty((n, s)) for s in self.sizes[1:]]
        z = [None] * len(self.sizes)
        for l, act in enumerate(self.activations, start=1):
            if not act.from_output:
                z[l] = np.empty((n, self.sizes[l]))
        passes.forward(self.layout.unflatten(theta), self.activations, a, z)
        return a[-1]


def _check_sizes(sizes):
    try:
        sizes = list(sizes)
    except TypeError:
        raise TypeError(
            f"sizes must be a sequence of layer widths; got {type(sizes).__name__}"
        ) from None
    if len(sizes) < 2:
        raise ValueError(
            f"sizes needs at least 2 entries (input and output); got {sizes}")
    for s in sizes:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise TypeError(f"sizes must be integers; got {sizes}")
        if index(s) < 1:
            raise ValueError(f"sizes must be positive; got {sizes}")
    return tuple(int(s) for s in sizes)
