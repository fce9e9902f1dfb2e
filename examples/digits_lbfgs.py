"""Train a digit classifier with L-BFGS-B on bpopt's gradient.

scikit-learn's bundled 8x8 digits (1797 images, 10 classes), a held-out
quarter for testing, one tanh hidden layer and softmax cross-entropy.
Needs the ``data`` extra: ``pip install "bpopt[data]"``.
"""

import time

import numpy as np
import scipy.optimize as so

import bpopt


def load_digits_split(test_size=0.25, seed=0):
    """Scaled digits, split into train and test rows."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as exc:
        raise SystemExit("this example needs scikit-learn: "
                         'pip install "bpopt[data]"') from exc
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=test_size, random_state=seed,
                            stratify=y)


def train(X, y, hidden=32, l2=1e-4, maxiter=300, seed=0):
    """Fit the network by L-BFGS-B; return it and SciPy's result."""
    net = bpopt.MLP([X.shape[1], hidden, 10], activation="tanh")
    obj = bpopt.Objective(net, X, y, loss="softmax_cross_entropy", l2=l2)
    result = so.minimize(obj.loss_and_grad, net.init(seed), jac=True,
                         method="L-BFGS-B", options={"maxiter": maxiter})
    return net, result


def accuracy(net, theta, X, y):
    return float(np.mean(net.forward(theta, X).argmax(axis=1) == y))


if __name__ == "__main__":
    hidden, l2, maxiter, seed = 32, 1e-4, 300, 0

    X_train, X_test, y_train, y_test = load_digits_split(seed=seed)
    start = time.perf_counter()
    net, result = train(X_train, y_train, hidden, l2, maxiter, seed)
    elapsed = time.perf_counter() - start
    print(f"{net}: {result.nit} iterations, loss {result.fun:.4g}, "
          f"{elapsed:.2f} s")
    print(f"train accuracy {accuracy(net, result.x, X_train, y_train):.4f}")
    print(f"test accuracy  {accuracy(net, result.x, X_test, y_test):.4f}")
