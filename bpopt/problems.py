"""Built-in problems: train and test objectives and a starting point.

Each function returns a :class:`Problem`. The data sets ``digits``,
``digits_autoencoder`` and ``breast_cancer`` are scikit-learn's bundled
copies (no download; the ``data`` extra: ``pip install "bpopt[data]"``);
``xor`` and ``regression`` are made with NumPy alone. Features are
centred and scaled with statistics of the training rows only (the digits'
pixels share one scale).

>>> from bpopt import problems
>>> p = problems.make("regression", hidden=8)
>>> p.train.loss(p.x0) > 0
True
"""

from dataclasses import dataclass

import numpy as np

from ._network import MLP
from ._objective import Objective

__all__ = ["Problem", "PROBLEMS", "make", "xor", "digits", "digits_autoencoder",
           "breast_cancer", "regression"]


@dataclass(frozen=True)
class Problem:
    """A training objective, a held-out objective and a starting point.

    Attributes
    ----------
    train, test : Objective
        Same network and loss; ``test`` is built on the held-out rows
        without the ``l2`` term, so that its loss measures the fit alone.
    x0 : ndarray, shape (n_params,)
        ``train.net.init(seed)``.
    name, description : str
    """

    train: Objective
    test: Objective
    x0: np.ndarray
    name: str
    description: str


def xor(hidden=4, seed=0, l2=1e-3):
    """Exclusive or of two inputs: four points, one sigmoid output.

    The four points are the whole problem: ``test`` holds the same rows.
    """
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0.0, 1.0, 1.0, 0.0])
    X = 2.0 * X - 1.0
    net = MLP([2, _check_hidden(hidden), 1], activation="tanh")
    train = Objective(net, X, y, loss="sigmoid_cross_entropy", l2=l2)
    test = Objective(net, X, y, loss="sigmoid_cross_entropy")
    return Problem(train, test, net.init(seed), "xor",
                   f"{_DESCRIPTIONS['xor']}; 4 rows")


def digits(hidden=32, seed=0, l2=1e-4, test_size=0.25):
    """8x8 handwritten digits, 10 classes, softmax cross-entropy.

    1797 images from scikit-learn's bundled copy; a stratified
    ``test_size`` share is held out.
    """
    from sklearn.datasets import load_digits

    X, y = _sklearn(load_digits)
    X_train, X_test, y_train, y_test = _split(X, y, test_size, seed, stratify=y)
    net = MLP([64, _check_hidden(hidden), 10], activation="tanh")
    loss = "softmax_cross_entropy"
    return _problem("digits", net, X_train, y_train, X_test, y_test, loss, l2,
                    seed, pooled=True)


def digits_autoencoder(hidden=16, seed=0, l2=1e-4, test_size=0.25):
    """The digits images through a ``hidden``-unit bottleneck, squared error."""
    from sklearn.datasets import load_digits

    X, y = _sklearn(load_digits)
    X_train, X_test, _, _ = _split(X, y, test_size, seed, stratify=y)
    net = MLP([64, _check_hidden(hidden), 64], activation="tanh")
    return _problem("digits_autoencoder", net, X_train, None, X_test, None,
                    "squared_error", l2, seed, pooled=True)


def breast_cancer(hidden=16, seed=0, l2=1e-4, test_size=0.25):
    """Wisconsin breast cancer: 569 rows, 30 features, one sigmoid output."""
    from sklearn.datasets import load_breast_cancer

    X, y = _sklearn(load_breast_cancer)
    X_train, X_test, y_train, y_test = _split(X, y.astype(np.float64), test_size,
                                              seed, stratify=y)
    net = MLP([30, _check_hidden(hidden), 1], activation="tanh")
    return _problem("breast_cancer", net, X_train, y_train, X_test, y_test,
                    "sigmoid_cross_entropy", l2, seed)


def regression(hidden=16, seed=0, l2=1e-4, n_samples=500, noise=0.1,
               test_size=0.25):
    """A smooth nonlinear function of 5 Gaussian inputs plus noise.

    ``y = sin(2 x1) + x2 x3 + 0.5 x4**2 - x5 + noise * N(0, 1)``, then
    standardised; squared error. Made with ``np.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((_check_count(n_samples, "n_samples"), 5))
    y = (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * X[:, 3] ** 2 - X[:, 4]
         + noise * rng.standard_normal(len(X)))
    n_test = int(round(test_size * len(X)))
    if not 1 <= n_test < len(X):
        raise ValueError(f"test_size leaves no train or no test rows; got "
                         f"{test_size!r} of {len(X)} samples")
    y_train, y_test = y[n_test:], y[:n_test]
    mu, sd = y_train.mean(), y_train.std()
    net = MLP([5, _check_hidden(hidden), 1], activation="tanh")
    return _problem("regression", net, X[n_test:], (y_train - mu) / sd,
                    X[:n_test], (y_test - mu) / sd, "squared_error", l2, seed)


_DESCRIPTIONS = {
    "xor": "exclusive or (test rows = train rows), sigmoid cross-entropy",
    "digits": "8x8 digits (scikit-learn), 10 classes, softmax cross-entropy",
    "digits_autoencoder": "8x8 digits (scikit-learn) through a bottleneck, "
                          "64 outputs, squared error",
    "breast_cancer": "breast cancer (scikit-learn), 30 features, sigmoid "
                     "cross-entropy",
    "regression": "synthetic smooth function of 5 inputs (NumPy), squared "
                  "error",
}

#: Name -> function returning a :class:`Problem`.
PROBLEMS = {
    "xor": xor,
    "digits": digits,
    "digits_autoencoder": digits_autoencoder,
    "breast_cancer": breast_cancer,
    "regression": regression,
}

#: Problems whose data come from scikit-learn.
NEEDS_SKLEARN = ("digits", "digits_autoencoder", "breast_cancer")


def make(name, **kwargs):
    """The built-in problem called ``name``.

    Parameters
    ----------
    name : str
        One of :data:`PROBLEMS`.
    **kwargs
        Passed to the problem's function: ``hidden``, ``seed``, ``l2``, ...
        A value of None keeps that function's default.

    Returns
    -------
    Problem

    Raises
    ------
    ValueError
        For an unknown name.
    ImportError
        When the problem needs scikit-learn and it is not installed.
    """
    if name not in PROBLEMS:
        raise ValueError(f"unknown problem {name!r}; choose one of "
                         f"{', '.join(PROBLEMS)}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    try:
        return PROBLEMS[name](**kwargs)
    except ImportError as exc:
        if name in NEEDS_SKLEARN and "sklearn" in str(exc):
            raise ImportError(
                f"problem {name!r} needs scikit-learn for its data: "
                'pip install "bpopt[data]"') from exc
        raise


def describe():
    """``{name: one-line description}`` of the built-in problems."""
    return dict(_DESCRIPTIONS)


# helpers

def _sklearn(loader):
    X, y = loader(return_X_y=True)
    return np.asarray(X, dtype=np.float64), np.asarray(y)


def _split(X, y, test_size, seed, stratify=None):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=test_size, random_state=seed,
                            stratify=stratify)


def _standardise(X_train, X_test, pooled=False):
    """Centre each column by the training rows and scale it to unit variance.

    ``pooled``: one scale for all columns (the pixels of an image share
    units; per-pixel scales would blow up pixels that are almost always
    blank in the training rows). Constant columns keep scale 1.
    """
    mu = X_train.mean(axis=0)
    sd = np.atleast_1d(np.std(X_train - mu, axis=None if pooled else 0))
    sd[sd == 0] = 1.0
    return (X_train - mu) / sd, (X_test - mu) / sd


def _problem(name, net, X_train, y_train, X_test, y_test, loss, l2, seed,
             pooled=False):
    X_train, X_test = _standardise(X_train, X_test, pooled)
    if y_train is None:  # an autoencoder: the inputs are the targets
        y_train, y_test = X_train, X_test
    train = Objective(net, X_train, y_train, loss=loss, l2=l2)
    test = Objective(net, X_test, y_test, loss=loss)
    description = (f"{_DESCRIPTIONS[name]}; {len(X_train)} train / "
                   f"{len(X_test)} test rows")
    return Problem(train, test, net.init(seed), name, description)


def _check_hidden(hidden):
    return _check_count(hidden, "hidden")


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive integer; got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value}")
    return int(value)
