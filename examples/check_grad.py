"""Check bpopt's gradient with ``scipy.optimize.check_grad``.

``check_grad`` compares the gradient with a forward difference of the
loss. Along all coordinates that costs one loss per parameter, so on a
network we check along random directions instead. A deliberately wrong
gradient shows what a failure looks like.
"""

import numpy as np
import scipy.optimize as so

from bpopt import problems

# forward-difference step: about sqrt(machine epsilon) balances the
# truncation error (order step) against the rounding error (order eps/step)
STEP = np.sqrt(np.finfo(float).eps)


def gradient_error(loss, grad, theta, directions=5, seed=0):
    """Relative error of ``grad`` against finite differences of ``loss``.

    Parameters
    ----------
    loss : callable
        ``loss(theta) -> float``.
    grad : callable
        ``grad(theta) -> ndarray (n_params,)``.
    theta : ndarray, shape (n_params,)
    directions : int
        Random directions to check along, each its own ``check_grad`` call.
    seed : int

    Returns
    -------
    float
        The largest, over ``directions`` standard-normal directions ``v``,
        of the error of the directional derivative ``g . v`` divided by
        ``|g|`` (the typical size of ``g . v``). Expect ``1e-6`` or less;
        a gradient off by a factor ``1 + e`` gives about ``e``.
    """
    rng = np.random.default_rng(seed)
    scale = max(np.linalg.norm(grad(theta)), np.finfo(float).tiny)
    errors = [so.check_grad(loss, grad, theta, epsilon=STEP, direction="random",
                            rng=rng)
              for _ in range(directions)]
    return max(errors) / scale


if __name__ == "__main__":
    problem_name, hidden, directions, seed = "digits", 32, 5, 0

    problem = problems.make(problem_name, hidden=hidden, seed=seed)
    obj, theta = problem.train, problem.x0
    print(f"relative error, bpopt gradient:  "
          f"{gradient_error(obj.loss, obj.grad, theta, directions, seed):.2e}")

    def wrong(theta):
        return 1.01 * obj.grad(theta)  # 1% too large: must be caught

    print(f"relative error, gradient x 1.01: "
          f"{gradient_error(obj.loss, wrong, theta, directions, seed):.2e}")
