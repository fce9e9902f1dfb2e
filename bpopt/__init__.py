"""bpopt: backpropagation as a gradient provider for numerical optimizers.

A feed-forward network's parameters are one flat float64 vector; an
:class:`Objective` binds the network to data and returns what each solver
asks for at that vector: value and gradient, Hessian- and Gauss-Newton-
vector products, residuals and a Jacobian operator.
"""

from ._activations import ACTIVATIONS, Activation
from ._compare import compare
from ._comparison import Comparison
from ._hessian_free import hessian_free
from ._losses import LOSSES, Loss
from ._network import MLP
from ._objective import BLOCK_BYTES, CACHE_BYTES, Objective
from ._threads import scipy_blas_threads

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "BLOCK_BYTES",
    "CACHE_BYTES",
    "Comparison",
    "LOSSES",
    "Loss",
    "MLP",
    "Objective",
    "compare",
    "hessian_free",
    "scipy_blas_threads",
]

__version__ = "0.1.0"
