"""L-BFGS, full batch: the two-loop recursion and a strong-Wolfe line search.

Nocedal and Wright, Numerical Optimization (2nd ed.): Algorithm 7.4 gives the search direction
from the last `memory` pairs (s, y); Algorithms 3.5 and 3.6 find a step length satisfying the
strong Wolfe conditions

    f(x + a p) <= f(x) + c1 a g^T p            (sufficient decrease)
    |g(x + a p)^T p| <= c2 |g^T p|             (curvature)

which keep y^T s > 0, so the implicit inverse-Hessian estimate stays positive definite.
It stops as scikit-learn's `solver="lbfgs"` (SciPy's L-BFGS-B) does: when the largest
gradient entry is at most `tol`, when an iteration lowers f by a relative 2.2e-9 or less, or
when `max_fun` evaluations of f are spent.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlp.hyperparams import Param, positive
from mlp.optimizers.base import Objective, Optimizer

C1, C2 = 1e-4, 0.9  # the usual Wolfe constants for quasi-Newton methods (N&W, section 3.1)
FTOL = 2.220446049250313e-09  # SciPy's default factr 1e7 times machine epsilon
MAX_LINE_SEARCH = 20  # evaluations of f within one line search


class LBFGS(Optimizer):
    """Limited-memory BFGS over the whole training set; one `iterate` is one iteration.

    Its state between iterations is the last pairs s_k = x_{k+1} - x_k, y_k = g_{k+1} - g_k
    (rows of `S` and `Y`), f and g at the current point and the evaluations spent, so a run
    resumed from `state_dict` continues bit for bit. `lr` is the step length the last line
    search accepted (reported, not set).
    """

    name = "lbfgs"
    PARAMS = (
        Param("memory", 10, int, low=1, help="pairs (s, y) kept for the Hessian estimate"),
        positive("tol", 1e-4, "stop when the largest gradient entry is at most this"),
        Param("max_fun", 15000, int, low=1, help="evaluations of the objective, at most"),
    )
    STATE = ("S", "Y", "f", "g", "n_fun", "converged", "lr")
    full_batch = True
    EQUATION = "theta <- theta + alpha p, p = -H g (two-loop), alpha by a strong-Wolfe search"
    converged = False
    lr = 0.0
    memory: int
    tol: float
    max_fun: int
    S: np.ndarray | None
    Y: np.ndarray | None
    f: float | None
    g: np.ndarray | None
    n_fun: int | None
    direction: np.ndarray | None = None  # the last iteration's p = -H g

    @classmethod
    def memory_vectors(cls, hyperparameters: dict[str, Any]) -> int:
        """The `memory` pairs (s, y), twice over while np.vstack appends one, and g, the
        starting point x, the direction p, the new gradient and the two-loop's q."""
        return 4 * hyperparameters["memory"] + 5

    def iterate(self, params: np.ndarray, objective: Objective) -> None:
        """One iteration from the point in `params`, which it leaves at the new point.

        `objective()` evaluates f and its gradient at the current content of `params`; the
        last call before `iterate` returns is always at the point it leaves in `params`.
        """
        if self.f is None or self.g is None:
            self.n_fun = 0
            self.f, self.g = self._evaluate(objective)
            self.S = self.Y = np.empty((0, len(params)), params.dtype)
        if self.converged or not np.isfinite(self.f):  # the caller sees the non-finite f
            return
        if np.abs(self.g).max() <= self.tol:
            self.converged = True
            return
        x, f, g = params.copy(), self.f, self.g
        p = -self._inverse_hessian_times(g)
        self.direction = p  # kept for `mlp explain` (not state: the next iteration remakes it)
        # No curvature known yet: a short first step. After that the quasi-Newton step is
        # scaled right already, and the unit step is tried first (N&W, section 7.2).
        alpha = 1.0 if len(self.S) else min(1.0, 1.0 / np.abs(g).sum())
        alpha, f_new, g_new = self._line_search(params, objective, x, f, g, p, alpha)
        if alpha == 0.0:  # no step satisfied even sufficient decrease: nothing more to gain
            params[:] = x
            self.f, self.g = self._evaluate(objective)
            self.converged = True
            return
        s, y = params - x, g_new - g
        if y @ s > 1e-10 * (y @ y):  # Wolfe guarantees y^T s > 0; skip a pair rounding broke
            self.S = np.vstack([self.S, s])[-self.memory :]
            self.Y = np.vstack([self.Y, y])[-self.memory :]
        self.lr = float(alpha)
        self.converged = (f - f_new) / max(abs(f), abs(f_new), 1.0) <= FTOL or (
            np.abs(g_new).max() <= self.tol or self.n_fun >= self.max_fun
        )
        self.f, self.g = f_new, g_new

    def _evaluate(self, objective: Objective) -> tuple[float, np.ndarray]:
        self.n_fun += 1
        f, g = objective()
        return float(f), g.copy()

    def _inverse_hessian_times(self, g: np.ndarray) -> np.ndarray:
        """H_k g by the two-loop recursion (N&W Algorithm 7.4), from the stored pairs."""
        q = g.copy()
        rho = [1.0 / (y @ s) for s, y in zip(self.S, self.Y)]
        alphas = []
        for s, y, r in reversed(list(zip(self.S, self.Y, rho))):  # newest pair first
            alpha = r * (s @ q)
            q -= alpha * y
            alphas.append(alpha)
        if len(self.S):
            s, y = self.S[-1], self.Y[-1]
            q *= (s @ y) / (y @ y)  # H_0 = gamma I, gamma = s^T y / y^T y (N&W eq. 7.20)
        for s, y, r, alpha in zip(self.S, self.Y, rho, reversed(alphas)):  # oldest first
            beta = r * (y @ q)
            q += s * (alpha - beta)
        return q

    def _line_search(self, params, objective, x, f0, g0, p, alpha):
        """A step length a along p meeting the strong Wolfe conditions (N&W Algorithm 3.5).

        Returns (a, f, g) at x + a p, with `params` left there; (0, f0, g0) if none is found.
        """
        slope0 = g0 @ p  # phi'(0) < 0: p is a descent direction

        def phi(a):  # f and phi'(a) = g^T p at x + a p, with params moved there
            np.add(x, a * p, out=params)
            f, g = self._evaluate(objective)
            return f, g, g @ p

        previous = (0.0, f0, g0, slope0)
        best = None  # the lowest point with sufficient decrease, should the search run out
        for i in range(MAX_LINE_SEARCH):
            f, g, slope = phi(alpha)
            # too far: no sufficient decrease (an overflow to inf or nan counts as none)
            if not f <= f0 + C1 * alpha * slope0 or (i > 0 and f >= previous[1]):
                return self._zoom(phi, previous, (alpha, f, g, slope), f0, slope0, i + 1, best)
            if abs(slope) <= -C2 * slope0:
                return alpha, f, g
            best = (alpha, f, g)
            if slope >= 0:
                return self._zoom(phi, (alpha, f, g, slope), previous, f0, slope0, i + 1, best)
            previous, alpha = (alpha, f, g, slope), 2.0 * alpha  # still descending: go further
        return self._fallback(phi, best)

    def _zoom(self, phi, lo, hi, f0, slope0, used, best):
        """Shrink [lo, hi], which brackets a strong-Wolfe step, until it holds one (Alg. 3.6).

        `lo` is the end with the lower f that satisfies sufficient decrease.
        """
        for _ in range(MAX_LINE_SEARCH - used):
            alpha = _cubic_minimizer(lo, hi)
            f, g, slope = phi(alpha)
            if not f <= f0 + C1 * alpha * slope0 or f >= lo[1]:
                hi = (alpha, f, g, slope)
            else:
                if abs(slope) <= -C2 * slope0:
                    return alpha, f, g
                if best is None or f < best[1]:
                    best = (alpha, f, g)
                if slope * (hi[0] - lo[0]) >= 0:
                    hi = lo
                lo = (alpha, f, g, slope)
        return self._fallback(phi, best)

    def _fallback(self, phi, best):
        """The search ran out: the best point with sufficient decrease, evaluated last."""
        if best is None:
            return 0.0, None, None
        alpha = best[0]
        f, g, _ = phi(alpha)  # again, so that the last evaluation is at the point kept
        return alpha, f, g


def _cubic_minimizer(lo: tuple, hi: tuple) -> float:
    """The minimizer of the cubic through phi and phi' at both ends (N&W eq. 3.59),
    kept at least a tenth of the interval away from either end (bisection if it has none)."""
    (a, fa, _, da), (b, fb, _, db) = lo, hi
    d1 = da + db - 3 * (fa - fb) / (a - b)
    radicand = d1 * d1 - da * db
    left, right = min(a, b), max(a, b)
    margin = 0.1 * (right - left)
    if radicand >= 0 and np.isfinite(radicand):
        d2 = np.sign(b - a) * np.sqrt(radicand)
        denominator = db - da + 2 * d2
        if denominator != 0:
            t = b - (b - a) * (db + d2 - d1) / denominator
            if np.isfinite(t):
                return float(min(max(t, left + margin), right - margin))
    return 0.5 * (a + b)
