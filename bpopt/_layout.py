"""Layout of the flat parameter vector.

Layer by layer, the weight matrix ``W`` (row-major, ``fan_in x fan_out``)
then the bias ``b``. Saved vectors depend on this order: it never changes.
"""

import numpy as np


class Layout:
    """Offsets and shapes of every ``(W, b)`` pair inside ``theta``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths: input, hidden..., output.
    """

    def __init__(self, sizes):
        self.sizes = tuple(int(s) for s in sizes)
        self.shapes = list(zip(self.sizes[:-1], self.sizes[1:]))
        self.slices = []
        offset = 0
        for fan_in, fan_out in self.shapes:
            w = slice(offset, offset + fan_in * fan_out)
            b = slice(w.stop, w.stop + fan_out)
            self.slices.append((w, b))
            offset = b.stop
        self.n_params = offset

    def unflatten(self, theta):
        """Per-layer ``(W, b)`` views into ``theta`` (no copies)."""
        return [
            (theta[w].reshape(shape), theta[b])
            for (w, b), shape in zip(self.slices, self.shapes)
        ]

    def stacked(self, theta, layer=0):
        """The ``[W; b]`` view of one layer, shape ``(fan_in + 1, fan_out)``.

        ``b`` follows ``W`` in ``theta``, so that the pair is one matrix:
        ``[a 1] @ [W; b] = a @ W + b`` in a single product.
        """
        (w, b), (fan_in, fan_out) = self.slices[layer], self.shapes[layer]
        return theta[w.start:b.stop].reshape(fan_in + 1, fan_out)

    def flatten(self, params, dtype=np.float64):
        """A new flat vector from per-layer ``(W, b)`` pairs."""
        theta = np.empty(self.n_params, dtype=dtype)
        for (W, b), (ws, bs), shape in zip(params, self.slices, self.shapes):
            theta[ws] = np.asarray(W).reshape(shape).ravel()
            theta[bs] = b
        return theta

    def weight_mask(self):
        """Boolean mask of the weight entries (biases excluded)."""
        mask = np.zeros(self.n_params, dtype=bool)
        for w, _ in self.slices:
            mask[w] = True
        return mask
