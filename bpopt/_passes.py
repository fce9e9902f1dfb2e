"""The passes through a stack of dense layers, on one block of rows.

Layer ``l`` (1-based) maps ``a[l-1]`` to ``z_l = a[l-1] @ W_l + b_l`` and
``a[l] = f_l(z_l)``; the last layer is linear, so ``a[L] = z_L``. Every
function works in place on caller-owned buffers and writes parameter
derivatives straight into views of a flat vector. The equations are those
of Pearlmutter (1994) for the tangent (``R{.}``) and second-order passes.

Shared arguments
----------------
params : list of (W, b)
    Views into ``theta``; ``W`` is ``(fan_in, fan_out)``.
acts : list of Activation
    One per hidden layer.
a : list of ndarray
    ``a[0]`` the input block, ``a[l]`` the activations of layer ``l``.
z : list of ndarray or None
    Pre-activations of hidden layers whose activation needs them.
ws : Workspace
    Scratch buffers of the block's size.
x1 : ndarray or None
    ``[a[0] 1]``, the input block with a column of ones appended, where the
    caller keeps one; the first layer's bias then rides in its product,
    ``[a0 1] [W_1; b_1] = a0 W_1 + b_1``, and saves a pass over ``z_1``.
"""

import numpy as np


def forward(params, acts, a, z, x1=None, Wb1=None):
    """Fill ``a[1:]`` (and ``z`` where kept) from ``a[0]``; with ``x1``,
    ``Wb1`` is the first layer's ``[W; b]``."""
    L = len(params)
    for l in range(1, L + 1):
        W, b = params[l - 1]
        zl = a[l] if l == L or z[l] is None else z[l]
        if l == 1 and x1 is not None:
            np.matmul(x1, Wb1, out=zl)
        else:
            np.matmul(a[l - 1], W, out=zl)
            zl += b
        if l < L:
            acts[l - 1].apply_(zl, a[l])


def backward(params, acts, a, z, delta, grads, ws, accumulate):
    """Backpropagate the output error ``delta`` (b, k) into ``grads``.

    ``delta`` is overwritten. ``grads`` are ``(gW, gb)`` views; with
    ``accumulate`` the block's contribution is added to them.
    """
    for l in range(len(params), 0, -1):
        W, _ = params[l - 1]
        gW, gb = grads[l - 1]

        # parameter gradient of layer l
        _matmul_into(a[l - 1].T, delta, gW, accumulate, ws)
        _colsum_into(delta, gb, accumulate, ws)

        # error of the layer below: f'(z) * (delta W^T)
        if l > 1:
            delta = _error_below(delta, W, acts[l - 2], z[l - 1], a[l - 1], ws)


def tangent(params, vparams, acts, a, z, ws, x1=None, Vc1=None):
    """Directional derivatives ``R{z_l}`` and ``R{a_l}`` along ``vparams``.

    Returns lists ``Rz`` and ``Ra`` indexed like ``a`` (entry 0 unused);
    ``Rz[L]`` is the tangent ``J v`` of the outputs. With ``x1``, ``Vc1``
    is the first layer's ``[V; c]``.
    """
    L = len(params)
    Rz, Ra = ws.tangent_buffers(a[0].shape[0])
    for l in range(1, L + 1):
        W, _ = params[l - 1]
        V, c = vparams[l - 1]

        # R{z_l} = a_{l-1} V_l + R{a_{l-1}} W_l + c_l
        if l == 1 and x1 is not None:
            np.matmul(x1, Vc1, out=Rz[l])
        else:
            np.matmul(a[l - 1], V, out=Rz[l])
            Rz[l] += c
        if l > 1:
            _matmul_into(Ra[l - 1], W, Rz[l], True, ws)

        # R{a_l} = f'(z_l) * R{z_l}
        if l < L:
            Ra[l][...] = Rz[l]
            acts[l - 1].mul_df_(Ra[l], z[l], a[l], ws.tmp(Ra[l]))
    return Rz, Ra


def r_backward(params, vparams, acts, a, z, delta, Rdelta, Rz, Ra, out, ws,
               accumulate):
    """Second-order backward pass: the data part of ``H v`` into ``out``.

    ``delta`` is the output error and ``Rdelta = H_L R{z_L}`` its
    directional derivative; both are overwritten.
    """
    for l in range(len(params), 0, -1):
        W, _ = params[l - 1]
        V, _ = vparams[l - 1]
        HW, Hb = out[l - 1]

        # (Hv)_W = a^T R{delta} + R{a}^T delta, (Hv)_b = sums of R{delta}
        _matmul_into(a[l - 1].T, Rdelta, HW, accumulate, ws)
        if l > 1:
            _matmul_into(Ra[l - 1].T, delta, HW, True, ws)
        _colsum_into(Rdelta, Hb, accumulate, ws)
        if l == 1:
            break

        # P = delta W^T and Q = R{delta} W^T + delta V^T
        fan_in = W.shape[0]
        P = ws.delta_buffer(delta, fan_in)
        Q = ws.rdelta_buffer(Rdelta, fan_in)
        np.matmul(delta, W.T, out=P)
        np.matmul(Rdelta, W.T, out=Q)
        _matmul_into(delta, V.T, Q, True, ws)

        # R{delta} = f' Q + f'' R{z} P, delta = f' P
        d1, d2 = ws.tmp(P), ws.tmp2(P)
        d2 = acts[l - 2].derivatives_(z[l - 1], a[l - 1], d1, d2)
        Q *= d1
        if d2 is not None:
            d2 *= Rz[l - 1]
            d2 *= P
            Q += d2
        P *= d1
        delta, Rdelta = P, Q


def square_backward(params, acts, a, z, delta, w, out, ws, accumulate):
    """Weighted sums of squared per-sample gradients into ``out``.

    ``delta`` holds the weighted output error ``w_i * dloss_i/dz``; the
    per-sample gradient of layer ``l`` is ``a_i (x) d_i`` with unweighted
    ``d_i``, so ``sum_i w_i (a_i (x) d_i)^2 = (a^2)^T (delta^2 / w)``: one
    matrix product per layer, no loop over samples.
    """
    for l in range(len(params), 0, -1):
        W, _ = params[l - 1]
        sW, sb = out[l - 1]

        # (a^2)^T (delta^2 / w)
        sq = ws.tmp(delta)
        np.multiply(delta, delta, out=sq)
        _divide_weights(sq, w)
        a2 = np.square(a[l - 1], out=ws.input_sized(a[l - 1]))
        _matmul_into(a2.T, sq, sW, accumulate, ws)
        _colsum_into(sq, sb, accumulate, ws)

        if l > 1:
            delta = _error_below(delta, W, acts[l - 2], z[l - 1], a[l - 1], ws)


def _error_below(delta, W, act, z, a, ws):
    """``f'(z) * (delta W^T)`` for the layer below, in the other delta buffer."""
    below = ws.delta_buffer(delta, W.shape[0])
    np.matmul(delta, W.T, out=below)
    act.mul_df_(below, z, a, ws.tmp(below))
    return below


def _divide_weights(sq, w):
    if np.ndim(w) == 0:
        sq /= w
    else:
        np.divide(sq, w, out=sq, where=w > 0)
        sq[(w <= 0)[:, 0]] = 0.0


def _matmul_into(A, B, out, accumulate, ws):
    if accumulate:
        t = ws.product_buffer(out.shape)
        np.matmul(A, B, out=t)
        out += t
    else:
        np.matmul(A, B, out=out)


def _colsum_into(delta, out, accumulate, ws):
    # a product with a vector of ones: far faster than a reduction here
    _matmul_into(ws.ones(delta.shape[0]), delta, out, accumulate, ws)


def sample_gradients(params, acts, a, z, j, slices, out, ws):
    """Per-sample gradients of output ``j``: row ``i`` of ``out`` (b, n_params)
    gets ``d z_L[i, j] / d theta``."""
    b = a[0].shape[0]
    delta = ws.output_error(b)
    delta[...] = 0.0
    delta[:, j] = 1.0
    for l in range(len(params), 0, -1):
        W, _ = params[l - 1]
        ws_slice, bs_slice = slices[l - 1]

        # a_i (x) delta_i for each sample
        fan_in, fan_out = W.shape
        out[:, ws_slice] = (a[l - 1][:, :, None] * delta[:, None, :]).reshape(
            b, fan_in * fan_out)
        out[:, bs_slice] = delta

        if l > 1:
            delta = _error_below(delta, W, acts[l - 2], z[l - 1], a[l - 1], ws)
