"""Activation functions with their first and second derivatives.

Each built-in writes its derivatives through the stored output
``a = f(z)`` (``tanh' = 1 - a**2``), so the network keeps only ``a``.
"""

import inspect

import numpy as np
from scipy.special import expit

__all__ = ["Activation", "ACTIVATIONS", "get_activation"]


class Activation:
    """An elementwise activation ``a = f(z)`` with ``f'`` and ``f''``.

    Parameters
    ----------
    name : str
        Name shown in messages and ``repr``.
    f : callable
        ``f(z) -> a``, elementwise, same shape as ``z``.
    df, d2f : callable
        ``df(z, a)`` and ``d2f(z, a)``: the first and second derivative
        at ``z``, where ``a = f(z)`` is passed so that either may be
        reused. Both return arrays of the shape of ``z``.
    from_output : bool, default False
        True when ``df`` and ``d2f`` use ``a`` only; the network then
        does not keep ``z`` and passes ``z=None``.

    Notes
    -----
    Functions must be picklable (module-level, not lambdas) for an
    objective to be sent to a process pool or a Dask worker.

    Examples
    --------
    >>> import numpy as np
    >>> def cube(z): return z ** 3
    >>> def dcube(z, a): return 3 * z ** 2
    >>> def d2cube(z, a): return 6 * z
    >>> act = Activation("cube", cube, dcube, d2cube)
    """

    def __init__(self, name, f, df, d2f, *, from_output=False):
        for arg, fn in (("f", f), ("df", df), ("d2f", d2f)):
            if not callable(fn):
                raise TypeError(
                    f"activation {arg} must be callable; got {type(fn).__name__}"
                )
        for arg, fn in (("df", df), ("d2f", d2f)):
            _check_two_arguments(arg, fn)
        self.name = str(name)
        self.f, self.df, self.d2f = f, df, d2f
        self.from_output = bool(from_output)

    def __repr__(self):
        return f"Activation({self.name!r})"

    # in-place hooks used by the network passes; built-ins fuse them

    def apply_(self, z, out):
        """Write ``f(z)`` into ``out`` (``out`` may be ``z``)."""
        out[...] = self.f(z)

    def mul_df_(self, delta, z, a, tmp):
        """``delta *= f'(z)`` in place; ``tmp`` is scratch of its shape."""
        delta *= self.df(z, a)

    def derivatives_(self, z, a, d1, d2):
        """Write ``f'(z)`` into ``d1`` and ``f''(z)`` into ``d2``.

        Returns ``d2``, or None where ``f''`` is zero (piecewise-linear
        activations), so that the caller can skip its term.
        """
        d1[...] = self.df(z, a)
        d2[...] = self.d2f(z, a)
        return d2


def _check_two_arguments(arg, fn):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                  p.POSITIONAL_OR_KEYWORD)]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
    if len(positional) < 2 and not varargs:
        raise TypeError(
            f"activation {arg} must take (z, a); got a function of "
            f"{len(positional)} argument(s)"
        )


class _Identity(Activation):
    def __init__(self):
        super().__init__("identity", _identity, _one, _zero, from_output=True)

    def apply_(self, z, out):
        if out is not z:
            out[...] = z

    def mul_df_(self, delta, z, a, tmp):
        pass

    def derivatives_(self, z, a, d1, d2):
        d1[...] = 1.0


class _Tanh(Activation):
    def __init__(self):
        super().__init__("tanh", np.tanh, _tanh_df, _tanh_d2f, from_output=True)

    def apply_(self, z, out):
        np.tanh(z, out=out)

    def mul_df_(self, delta, z, a, tmp):
        np.multiply(a, a, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        delta *= tmp

    def derivatives_(self, z, a, d1, d2):
        # f' = 1 - a^2, f'' = -2 a f'
        np.multiply(a, a, out=d1)
        np.subtract(1.0, d1, out=d1)
        np.multiply(a, -2.0, out=d2)
        d2 *= d1
        return d2


class _Logistic(Activation):
    def __init__(self):
        super().__init__("logistic", expit, _logistic_df, _logistic_d2f,
                         from_output=True)

    def apply_(self, z, out):
        expit(z, out=out)

    def mul_df_(self, delta, z, a, tmp):
        np.subtract(1.0, a, out=tmp)
        tmp *= a
        delta *= tmp

    def derivatives_(self, z, a, d1, d2):
        # f' = a (1 - a), f'' = f' (1 - 2 a)
        np.subtract(1.0, a, out=d1)
        d1 *= a
        np.multiply(a, -2.0, out=d2)
        d2 += 1.0
        d2 *= d1
        return d2


class _Relu(Activation):
    def __init__(self):
        super().__init__("relu", _relu, _relu_df, _zero, from_output=True)

    def apply_(self, z, out):
        if z.nbytes <= _ZEROS_BYTES:
            np.maximum(z, _zeros_like(z), out=out)
        else:
            np.maximum(z, 0.0, out=out)

    def mul_df_(self, delta, z, a, tmp):
        np.greater(a, 0.0, out=tmp)
        delta *= tmp

    def derivatives_(self, z, a, d1, d2):
        np.greater(a, 0.0, out=d1)


class _Softplus(Activation):
    def __init__(self):
        super().__init__("softplus", _softplus, _softplus_df, _softplus_d2f,
                         from_output=True)

    def apply_(self, z, out):
        np.logaddexp(0.0, z, out=out)

    def mul_df_(self, delta, z, a, tmp):
        # f'(z) = logistic(z) = 1 - exp(-a) = -expm1(-a)
        np.negative(a, out=tmp)
        np.expm1(tmp, out=tmp)
        np.negative(tmp, out=tmp)
        delta *= tmp

    def derivatives_(self, z, a, d1, d2):
        # f' = 1 - exp(-a), f'' = f' exp(-a)
        np.negative(a, out=d2)
        np.expm1(d2, out=d1)
        np.negative(d1, out=d1)
        np.exp(d2, out=d2)
        d2 *= d1
        return d2


class _LeakyRelu(Activation):
    slope = 0.01

    def __init__(self):
        super().__init__("leaky_relu", _leaky, _leaky_df, _zero,
                         from_output=True)

    def apply_(self, z, out):
        np.multiply(z, self.slope, out=out, where=z < 0.0)
        if out is not z:
            np.copyto(out, z, where=z >= 0.0)

    def mul_df_(self, delta, z, a, tmp):
        np.multiply(delta, self.slope, out=delta, where=a < 0.0)

    def derivatives_(self, z, a, d1, d2):
        # 1 where a >= 0, the slope below
        np.greater_equal(a, 0.0, out=d1)
        d1 *= 1.0 - self.slope
        d1 += self.slope


#: Largest array that relu compares with a zero array rather than a scalar.
_ZEROS_BYTES = 2**19
_ZEROS = {}


def _zeros_like(z):
    """A read-only zero array of ``z``'s shape and dtype.

    NumPy's ``maximum`` runs its vectorised loop only when both operands
    are arrays of the same shape; against a scalar it is two to three times
    slower. That pays while the zeros stay in cache: for blocks larger
    than ``_ZEROS_BYTES`` the extra stream of zeros slowed whole calls on
    784-1024-1024-10 by a tenth, so they use the scalar. One buffer per
    dtype serves every call. It is written (``np.full``), not
    ``np.zeros``: a calloc'ed array reads the kernel's shared zero page
    until the kernel remaps it, and calls slowed by a fifth when it did.
    """
    zeros = _ZEROS.get(z.dtype)
    if zeros is None or zeros.size < z.size:
        zeros = np.full(z.size, 0.0, z.dtype)
        zeros.flags.writeable = False
        _ZEROS[z.dtype] = zeros
    return zeros[: z.size].reshape(z.shape)


def _identity(z):
    return z.copy()


def _one(z, a):
    return np.ones_like(a)


def _zero(z, a):
    return np.zeros_like(a)


def _tanh_df(z, a):
    return 1.0 - a * a


def _tanh_d2f(z, a):
    return -2.0 * a * (1.0 - a * a)


def _logistic_df(z, a):
    return a * (1.0 - a)


def _logistic_d2f(z, a):
    return a * (1.0 - a) * (1.0 - 2.0 * a)


def _relu(z):
    return np.maximum(z, 0.0)


def _relu_df(z, a):
    return (a > 0.0).astype(a.dtype)


def _softplus(z):
    return np.logaddexp(0.0, z)


def _softplus_df(z, a):
    return -np.expm1(-a)


def _softplus_d2f(z, a):
    # logistic(z) * (1 - logistic(z)) with 1 - logistic(z) = exp(-a)
    return -np.expm1(-a) * np.exp(-a)


def _leaky(z):
    return np.where(z >= 0.0, z, _LeakyRelu.slope * z)


def _leaky_df(z, a):
    return np.where(a >= 0.0, 1.0, _LeakyRelu.slope).astype(a.dtype)


ACTIVATIONS = {
    act.name: act
    for act in (_Identity(), _Tanh(), _Logistic(), _Relu(), _Softplus(),
                _LeakyRelu())
}


def get_activation(activation, arg="activation"):
    """An :class:`Activation` from a name or an instance."""
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        try:
            return ACTIVATIONS[activation]
        except KeyError:
            raise ValueError(
                f"{arg} must be one of {sorted(ACTIVATIONS)} or an Activation; "
                f"got {activation!r}"
            ) from None
    raise TypeError(
        f"{arg} must be a name or an Activation; got {type(activation).__name__}"
    )
