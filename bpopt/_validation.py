"""Checks of user input at the public boundary, each naming its argument."""

import numbers

import numpy as np

# rows checked for non-finite values at a time, to keep memory bounded
_CHECK_ROWS = 65536


def real_array(value, name):
    """``value`` as an array of a real (integer or float) dtype."""
    arr = np.asarray(value)
    if arr.dtype == bool or arr.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    return arr


def all_finite(arr):
    """True when no entry of ``arr`` is NaN or infinite (bounded memory)."""
    if arr.dtype.kind in "iu":
        return True
    if arr.ndim < 2:
        return bool(np.isfinite(arr).all())
    return all(np.isfinite(arr[i:i + _CHECK_ROWS]).all()
               for i in range(0, arr.shape[0], _CHECK_ROWS))


def check_finite(arr, name):
    if not all_finite(arr):
        raise ValueError(f"{name} contains NaN or infinite values")


def check_X(X, n_features):
    """A 2-D real array of ``n_features`` columns, at least one row, finite."""
    X = real_array(X, "X")
    if X.ndim != 2:
        raise ValueError(
            f"X must be 2-D (n_samples, {n_features}); got {X.ndim}-D, "
            f"shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(
            f"X has {X.shape[1]} columns; the network expects {n_features}")
    if X.shape[0] == 0:
        raise ValueError("X is empty: it has 0 rows")
    check_finite(X, "X")
    return X


def check_targets(y, n):
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != n:
        raise ValueError(
            f"y must have one row per row of X ({n}); got shape {y.shape}")
    if y.ndim > 2:
        raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}")
    if y.dtype.kind == "f":
        check_finite(y, "y")
    return y


def check_sample_weight(sample_weight, n):
    """Normalised weights ``w_i / sum w``, shape (n,), float64."""
    w = real_array(sample_weight, "sample_weight")
    if w.ndim != 1:
        raise ValueError(
            f"sample_weight must be 1-D of length {n}; got shape {w.shape}")
    if w.shape[0] != n:
        raise ValueError(
            f"sample_weight has {w.shape[0]} entries; X has {n} rows")
    check_finite(w, "sample_weight")
    if (w < 0).any():
        raise ValueError(
            f"sample_weight must be non-negative; got minimum {w.min()!r}")
    total = float(w.sum(dtype=np.float64))
    if total <= 0:
        raise ValueError("sample_weight sums to zero; at least one weight "
                         "must be positive")
    return w.astype(np.float64) / total


def check_vector(value, name, n_params):
    """A finite float64 vector of ``n_params`` entries (no copy if it is one)."""
    if not (type(value) is np.ndarray and value.dtype == np.float64
            and value.shape == (n_params,)):
        value = _as_vector(value, name, n_params)
    if not np.isfinite(value).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def _as_vector(value, name, n_params):
    v = real_array(value, name)
    if v.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D with {n_params} entries; got shape {v.shape}")
    if v.shape[0] != n_params:
        raise ValueError(
            f"{name} has {v.shape[0]} entries; this network has {n_params} "
            "parameters")
    return np.asarray(v, dtype=np.float64)


def check_out(out, n_params):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a NumPy array; got {type(out).__name__}")
    if out.dtype != np.float64 or out.shape != (n_params,):
        raise ValueError(
            f"out must be float64 of shape ({n_params},); got {out.dtype} of "
            f"shape {out.shape}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    return out


def check_nonnegative_real(value, name):
    """``value`` as a float, checked to be a finite real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and non-negative; got {value!r}")
    return float(value)
