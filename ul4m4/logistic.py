"""Batched L2-penalised logistic regression: many independent linear probes fitted at once, in torch.

Each problem is scikit-learn's ``LogisticRegression(C=C, tol=tol, max_iter=max_iter)`` with its lbfgs
solver: the same objective (the mean log-loss plus ``||W||^2 / (2 C n)``, the intercept unpenalised;
multinomial for three or more classes, binomial with one coefficient vector for two, and one binomial
problem per label for 0/1 indicator targets, as ``OneVsRestClassifier`` does) and the same optimiser,
scipy's L-BFGS-B with scikit-learn's options, one instance per problem. The instances advance in
lockstep: every round, each asks for its loss and gradient, and all are computed together by one
batched torch evaluation (on the CPU or a GPU). So the result is scikit-learn's up to rounding (same
iterations, same predictions), while the work per round is a few matrix products over a stack of
problems instead of one scipy run and one scikit-learn loss per problem.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from .validation import NotFittedError, check_params, resolve_device

__all__ = ["BatchLogisticRegression"]


class _Losses:
    """Loss and gradient of a stack of problems, computed as scikit-learn's ``LinearModelLoss`` does;
    assumes valid input.

    ``X`` (B, n, d) holds each problem's features; ``target`` is class indices (B, n) (multinomial) or
    0/1 floats (B, n, J) (binomial, one problem per column). Coefficients ``theta`` (B, d + 1, J), the
    last row the intercepts.
    """

    def __init__(self, X, target, multinomial, l2, products=torch.float64):
        self.X, self.target, self.multinomial, self.l2 = X, target, multinomial, l2
        self.n = X.shape[1]
        self.products = products
        if products != torch.float64:  # X (B, n, d) in that precision (3x faster than float64 on a CPU);
            # both products below read it row by row (W X^T with X^T a transposed view, BLAS's own layout)
            self.Xp = X.to(products)
            self.X = None

    def subset(self, keep):
        """The same losses for the problems ``keep`` only."""
        out = _Losses.__new__(_Losses)
        out.X, out.target, out.multinomial, out.l2, out.n, out.products = (
            None if self.X is None else self.X[keep], self.target[keep], self.multinomial, self.l2, self.n,
            self.products)
        if self.products != torch.float64:
            out.Xp = self.Xp[keep]
        return out

    def _scores(self, W, b):
        if self.products == torch.float64:
            return torch.baddbmm(b, self.X, W)
        Wt = W.transpose(1, 2).to(self.products)
        return torch.bmm(Wt, self.Xp.transpose(1, 2)).transpose(1, 2).to(torch.float64) + b

    def _grad_w(self, R):
        if self.products == torch.float64:
            return torch.bmm(R.transpose(1, 2), self.X).transpose(1, 2)
        Rt = R.transpose(1, 2).to(self.products).contiguous()
        return torch.bmm(Rt, self.Xp).transpose(1, 2).to(torch.float64)

    def __call__(self, theta):
        """Losses, shape (B, 1) (multinomial) or (B, J), and gradients (B, d + 1, J)."""
        W, b = theta[:, :-1], theta[:, -1:]
        Z = self._scores(W, b)  # (B, n, J) = X W + b
        if self.multinomial:
            lse = torch.logsumexp(Z, dim=2, keepdim=True)  # (B, n, 1)
            idx = self.target.unsqueeze(2)
            loss = (lse - Z.gather(2, idx)).sum(dim=1) / self.n  # (B, 1)
            penalty = (W * W).sum(dim=(1, 2))[:, None]
            R = torch.exp(Z - lse)  # d loss / d Z: softmax minus the one-hot target
            R.scatter_add_(2, idx, torch.full(idx.shape, -1.0, dtype=R.dtype, device=R.device))
        else:
            loss = (torch.logaddexp(Z.new_zeros(()), Z) - self.target * Z).sum(dim=1) / self.n  # (B, J)
            penalty = (W * W).sum(dim=1)
            R = torch.sigmoid(Z) - self.target
        grad_w = self._grad_w(R) / self.n + self.l2 * W  # (B, d, J)
        return loss + 0.5 * self.l2 * penalty, torch.cat([grad_w, R.sum(dim=1, keepdim=True) / self.n], dim=1)


class _LineSearch:
    """Moré and Thuente's line search as MINPACK-2's ``dcsrch`` states it, the one L-BFGS-B (and so
    scikit-learn's lbfgs) uses: a step satisfying the strong Wolfe conditions with ``ftol`` = 1e-3,
    ``gtol`` = 0.9, ``xtol`` = 0.1, by safeguarded cubic and quadratic interpolation. Scalar code on
    Python floats (IEEE doubles, as the C original), one instance per problem, driven by reverse
    communication: ``start`` and then ``step`` with the loss and slope at each step it asks for.
    """

    FTOL, GTOL, XTOL, STPMIN = 1e-3, 0.9, 0.1, 0.0

    def start(self, stp, f, g, stpmax):
        """Begin at the step ``stp`` from a point with loss ``f`` and slope ``g`` < 0; returns "FG"."""
        self.stpmax = stpmax
        self.brackt, self.stage = False, 1
        self.finit, self.ginit = f, g
        self.gtest = self.FTOL * g
        self.width = stpmax - self.STPMIN
        self.width1 = self.width / 0.5
        self.stx, self.fx, self.gx = 0.0, f, g
        self.sty, self.fy, self.gy = 0.0, f, g
        self.stmin, self.stmax = 0.0, stp + 4.0 * stp
        return "FG", stp

    def step(self, stp, f, g):
        """Loss ``f`` and slope ``g`` at ``stp``; returns ("FG", next step), or ("CONV" | "WARN", stp)."""
        ftest = self.finit + stp * self.gtest
        if self.stage == 1 and f <= ftest and g >= 0:
            self.stage = 2
        warn = ((self.brackt and (stp <= self.stmin or stp >= self.stmax))
                or (self.brackt and self.stmax - self.stmin <= self.XTOL * self.stmax)
                or (stp == self.stpmax and f <= ftest and g <= self.gtest)
                or (stp == self.STPMIN and (f > ftest or g >= self.gtest)))
        if f <= ftest and abs(g) <= self.GTOL * -self.ginit:
            return "CONV", stp
        if warn:
            return "WARN", stp
        if self.stage == 1 and f <= self.fx and f > ftest:
            # The modified function psi(stp) = f(stp) - f(0) - stp * gtest until a step has lower f and
            # non-negative slope.
            gt = self.gtest
            stx, fxm, gxm, sty, fym, gym, stp, self.brackt = _dcstep(
                self.stx, self.fx - self.stx * gt, self.gx - gt, self.sty, self.fy - self.sty * gt, self.gy - gt,
                stp, f - stp * gt, g - gt, self.brackt, self.stmin, self.stmax)
            self.stx, self.sty = stx, sty
            self.fx, self.fy = fxm + stx * gt, fym + sty * gt
            self.gx, self.gy = gxm + gt, gym + gt
        else:
            (self.stx, self.fx, self.gx, self.sty, self.fy, self.gy, stp, self.brackt) = _dcstep(
                self.stx, self.fx, self.gx, self.sty, self.fy, self.gy, stp, f, g, self.brackt,
                self.stmin, self.stmax)
        if self.brackt:
            if abs(self.sty - self.stx) >= 0.66 * self.width1:
                stp = self.stx + 0.5 * (self.sty - self.stx)
            self.width1 = self.width
            self.width = abs(self.sty - self.stx)
            self.stmin, self.stmax = min(self.stx, self.sty), max(self.stx, self.sty)
        else:
            self.stmin = stp + 1.1 * (stp - self.stx)
            self.stmax = stp + 4.0 * (stp - self.stx)
        stp = min(max(stp, self.STPMIN), self.stpmax)
        if self.brackt and (stp <= self.stmin or stp >= self.stmax or self.stmax - self.stmin <= self.XTOL * self.stmax):
            stp = self.stx
        return "FG", stp


def _sqrt(v):
    return math.sqrt(v) if v >= 0 else math.nan  # C's sqrt: NaN below zero, which the tests below then skip


def _dcstep(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """One safeguarded step of the line search and the update of the interval holding a minimiser
    (MINPACK-2's ``dcstep``): cubic, quadratic or secant interpolation depending on which end is lower
    and on the slopes' signs. Returns stx, fx, dx, sty, fy, dy, the new stp and brackt."""
    sgnd = dp * (dx / abs(dx))
    if fp > fx:  # higher loss: the minimiser is bracketed; the cubic step or halfway to the quadratic
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * _sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
        if stp < stx:
            gamma = -gamma
        p = (gamma - dx) + theta
        q = ((gamma - dx) + gamma) + dp
        stpc = stx + (p / q) * (stp - stx)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        stpf = stpc if abs(stpc - stx) < abs(stpq - stx) else stpc + (stpq - stpc) / 2.0
        brackt = True
    elif sgnd < 0:  # slopes of opposite sign: bracketed; the cubic or the secant step, whichever is farther
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * _sqrt((theta / s) ** 2 - (dx / s) * (dp / s))
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = ((gamma - dp) + gamma) + dx
        stpc = stp + (p / q) * (stx - stp)
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
        brackt = True
    elif abs(dp) < abs(dx):  # same sign, slope decreasing in magnitude
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * _sqrt(max(0.0, (theta / s) ** 2 - (dx / s) * (dp / s)))
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = (gamma + (dx - dp)) + gamma
        r = p / q
        if r < 0 and gamma != 0:
            stpc = stp + r * (stx - stp)
        elif stp > stx:
            stpc = stpmax
        else:
            stpc = stpmin
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        if brackt:
            stpf = stpc if abs(stpc - stp) < abs(stpq - stp) else stpq
            if stp > stx:
                stpf = min(stp + 0.66 * (sty - stp), stpf)
            else:
                stpf = max(stp + 0.66 * (sty - stp), stpf)
        else:
            stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
            stpf = max(stpmin, min(stpmax, stpf))
    else:  # same sign, slope not decreasing: the cubic step toward sty, or an end of the range
        if brackt:
            theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
            s = max(abs(theta), abs(dy), abs(dp))
            gamma = s * _sqrt((theta / s) ** 2 - (dy / s) * (dp / s))
            if stp > sty:
                gamma = -gamma
            p = (gamma - dp) + theta
            q = ((gamma - dp) + gamma) + dy
            stpf = stp + (p / q) * (sty - stp)
        elif stp > stx:
            stpf = stpmax
        else:
            stpf = stpmin
    if fp > fx:
        sty, fy, dy = stp, fp, dp
    else:
        if sgnd < 0:
            sty, fy, dy = stx, fx, dx
        stx, fx, dx = stp, fp, dp
    return stx, fx, dx, sty, fy, dy, stpf, brackt


# L-BFGS-B's settings as scikit-learn's lbfgs passes them to scipy: 10 correction pairs, at most 50
# evaluations per line search, stop on a relative decrease of at most 64 machine epsilons.
_MEMORY, _MAXLS, _FTOL, _STPMAX = 10, 50, 64 * np.finfo(float).eps, 1e10
_EPS = np.finfo(float).eps


def _lbfgsb(evaluate, x, tol, max_iter, active):
    """L-BFGS-B without bounds, for many problems in lockstep: each problem follows scipy's L-BFGS-B (as
    scikit-learn calls it) step for step, and every round all problems' losses and gradients come from
    one call ``evaluate(x, idx)`` -> (f (k,), g (k, N)) at the points x (k, N) of the problems ``idx``.

    Parameters
    ----------
    x : ndarray of shape (n_problems, n_params), float64, the starting points (updated in place)
    tol : float, stop a problem when its gradient's largest |entry| is at most ``tol``
    max_iter : int, iterations per problem
    active : ndarray of bool (n_problems,), the problems to solve (the others are left as they are)

    Returns
    -------
    x : the solutions; n_iter : ndarray of int (n_problems,), iterations as scipy counts them
    """
    P, N = x.shape
    m = _MEMORY
    # Correction pairs, a ring of m slots per problem, with their inner products kept up to date:
    # SYm[p, i, j] = s_i . y_j and YYm[p, i, j] = y_i . y_j. The direction then needs only the products of
    # the gradient with the pairs and two combinations of them (the two-loop recursion done on the
    # m x m inner products), instead of 4 m passes over the pairs.
    S, Y = np.zeros((P, m, N)), np.zeros((P, m, N))
    SYm, YYm = np.zeros((P, m, m)), np.zeros((P, m, m))
    SYm[:, np.arange(m), np.arange(m)] = 1.0  # slots never filled: a harmless s.y, masked out anyway
    col = np.zeros(P, dtype=np.int64)  # pairs held
    head = np.zeros(P, dtype=np.int64)  # slot of each problem's newest pair; the a-th newest is head - a
    theta = np.ones(P)  # B0 = theta * I
    n_iter = np.zeros(P, dtype=np.int64)
    searches = [_LineSearch() for _ in range(P)]
    x0, f0, g0 = x.copy(), np.zeros(P), np.zeros_like(x)  # each line search's starting point
    idx = np.flatnonzero(active)
    if idx.size:
        f0[idx], g0[idx] = evaluate(x0[idx], idx)
    active = active & (np.abs(g0).max(axis=1) > tol)
    d = np.zeros_like(x)
    stp, gd0, tries = np.zeros(P), np.zeros(P), np.zeros(P, dtype=np.int64)

    def direction(idx):
        """L-BFGS direction -H g at x0 for problems ``idx``: the two-loop recursion (H0 = I / theta) with
        every inner product taken from ``SYm``, ``YYm`` and the gradient's products with the pairs."""
        g, held = g0[idx], int(col[idx].max(initial=0))
        if held == 0:
            d[idx] = -g / theta[idx, None]
            return
        k, rows = idx.size, np.arange(idx.size)
        sg, yg = np.empty((k, m)), np.empty((k, m))  # s_i . g and y_i . g (one problem at a time: no copies)
        for i, p in enumerate(idx):
            np.matmul(S[p], g[i], out=sg[i])
            np.matmul(Y[p], g[i], out=yg[i])
        A, C = SYm[idx], YYm[idx]
        alpha, coef = np.zeros((k, m)), np.zeros((k, m))  # q = g - Y^T alpha; r = q / theta + S^T coef
        slots = []
        for a in range(held):  # newest to oldest: alpha_i = rho_i s_i . q
            valid = a < col[idx]
            sl = (head[idx] - a) % m
            sq = sg[rows, sl] - (A[rows, sl] * alpha).sum(axis=1)
            alpha[rows, sl] = np.where(valid, sq / A[rows, sl, sl], 0.0)
            slots.append((valid, sl))
        th = theta[idx]
        for valid, sl in reversed(slots):  # oldest to newest: beta_i = rho_i y_i . r; r += (alpha_i - beta_i) s_i
            yr = (yg[rows, sl] - (C[rows, sl] * alpha).sum(axis=1)) / th + (A[rows, :, sl] * coef).sum(axis=1)
            coef[rows, sl] = np.where(valid, alpha[rows, sl] - yr / A[rows, sl, sl], 0.0)
        alpha /= -th[:, None]
        for i, p in enumerate(idx):  # d = -(g / theta - Y^T alpha / theta + S^T coef)
            d[p] = -(g[i] / th[i] + alpha[i] @ Y[p] + coef[i] @ S[p])

    def begin(idx):
        """Start a line search at x0 along a fresh direction for problems ``idx``; returns those that
        cannot descend (L-BFGS-B's "line search impossible")."""
        direction(idx)
        gd0[idx] = np.einsum("ij,ij->i", g0[idx], d[idx])
        failed = []
        for p in idx:
            if not gd0[p] < 0:
                failed.append(p)
                continue
            first = 1.0 / np.linalg.norm(d[p]) if n_iter[p] == 0 else 1.0
            _, stp[p] = searches[p].start(min(first, _STPMAX), float(f0[p]), float(gd0[p]), _STPMAX)
            tries[p] = 0
        return np.array(failed, dtype=np.int64)

    def restart(idx):
        """After a failed line search: from x0 again with the memory dropped, or stop where there was
        none (scipy's "abnormal termination in line search")."""
        keep = idx[col[idx] > 0]
        active[idx[col[idx] == 0]] = False
        col[keep], theta[keep] = 0, 1.0
        if keep.size:
            again = begin(keep)
            active[again] = False  # steepest descent cannot descend either

    idx = np.flatnonzero(active)
    if idx.size:
        restart(begin(idx))
    while active.any():
        idx = np.flatnonzero(active)
        trial = x0[idx] + stp[idx, None] * d[idx]
        ft, gt = evaluate(trial, idx)
        slope = np.einsum("ij,ij->i", gt, d[idx])
        accepted, failed = [], []
        for i, p in enumerate(idx):
            task, new = searches[p].step(float(stp[p]), float(ft[i]), float(slope[i]))
            if task == "FG":
                tries[p] += 1
                if tries[p] >= _MAXLS:
                    failed.append(p)
                else:
                    stp[p] = new
            else:
                accepted.append(i)
        if failed:
            restart(np.array(failed, dtype=np.int64))
        if not accepted:
            continue
        i = np.array(accepted, dtype=np.int64)  # positions in idx
        a = idx[i]
        n_iter[a] += 1
        fold = f0[a]
        yv = gt[i] - g0[a]
        sv = stp[a, None] * d[a]
        dr = (slope[i] - gd0[a]) * stp[a]
        x0[a], f0[a], g0[a] = trial[i], ft[i], gt[i]
        done = ((n_iter[a] >= max_iter) | (np.abs(g0[a]).max(axis=1) <= tol)
                | (fold - f0[a] <= _FTOL * np.maximum(np.maximum(np.abs(fold), np.abs(f0[a])), 1.0)))
        active[a[done]] = False
        go = ~done
        upd = go & (dr > _EPS * (-gd0[a] * stp[a]))  # L-BFGS-B skips updates without enough curvature
        u = a[upd]
        if u.size:
            h = head[u] = (head[u] + 1) % m  # the oldest pair's slot when the ring is full
            for p, hp, sp, yp in zip(u, h, sv[upd], yv[upd]):
                S[p, hp], Y[p, hp] = sp, yp
                SYm[p, hp, :] = Y[p] @ sp  # s_new . y_j
                SYm[p, :, hp] = S[p] @ yp  # s_j . y_new
                YYm[p, hp, :] = YYm[p, :, hp] = Y[p] @ yp
            SYm[u, h, h] = dr[upd]  # L-BFGS-B's s.y of the new pair, from the line search's slopes
            col[u] = np.minimum(col[u] + 1, m)
            theta[u] = YYm[u, h, h] / dr[upd]
        nxt = a[go]
        if nxt.size:
            restart(begin(nxt))
    x[:] = x0
    return x, n_iter


class BatchLogisticRegression(BaseEstimator):
    """Independent L2-penalised logistic regressions, one per leading index, fitted at once.

    Each problem gets what ``sklearn.linear_model.LogisticRegression(C=C, tol=tol, max_iter=max_iter)``
    (wrapped in ``OneVsRestClassifier`` for indicator targets) would give it, up to rounding.

    Parameters
    ----------
    C : float, default=1.0
        Inverse penalty strength.
    tol : float, default=1e-4
        L-BFGS-B stops a problem when its gradient's largest entry is at most ``tol``.
    max_iter : int, default=100
    device : {None, "auto", "cpu", "cuda"}, default=None
        Where the losses are computed; None follows the input (CPU for numpy).
    products : {"float64", "float32"}, default="float64"
        Precision of the two matrix products with the features in each loss evaluation (everything else,
        and L-BFGS-B, stays float64). "float64" follows scikit-learn step by step; "float32" is about 3x
        faster on a CPU, its gradients differ in the 7th digit, so a problem may take a few different
        steps near the optimum (the predictions agree with scikit-learn's to within 0.005 F1 on the
        degradation sweeps measured in benchmarks/bench_sweep.py).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,), single-label targets (every problem's training labels hold
        the same classes)
    coef_ : ndarray of shape (n_problems, n_outputs, n_features); n_outputs is 1 for two classes, the
        number of classes for more, the number of labels for indicator targets
    intercept_ : ndarray of shape (n_problems, n_outputs)
    n_iter_ : ndarray of int of shape (n_problems, 1) or (n_problems, n_labels); 0 for a label that is
        constant in a problem's training data (predicted as that constant, as ``OneVsRestClassifier``)
    """

    _parameter_constraints = {
        "C": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "products": [StrOptions({"float64", "float32"})],
    }

    def __init__(self, C=1.0, tol=1e-4, max_iter=100, device=None, products="float64"):
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.device = device
        self.products = products

    def fit(self, X, y):
        """Fit every problem; returns self.

        Parameters
        ----------
        X : array or tensor of shape (n_problems, n_samples, n_features), finite
        y : array of shape (n_problems, n_samples) (labels) or (n_problems, n_samples, n_labels) (0/1)
        """
        check_params(self.get_params(deep=False), self._parameter_constraints)
        device = resolve_device(self.device, [X])
        X = _as_stack(X, device)
        products = {"float64": torch.float64, "float32": torch.float32}[self.products]
        B, n, d = X.shape
        y = np.asarray(y)
        if y.shape[:2] != (B, n) or y.ndim not in (2, 3):
            raise ValueError(f"y has shape {y.shape}; expected ({B}, {n}) labels or ({B}, {n}, n_labels) 0/1 "
                             "indicators to match X.")
        self.multilabel_ = y.ndim == 3
        l2 = 1.0 / (self.C * n)
        if self.multilabel_:
            if not np.isin(y, (0, 1)).all():
                raise ValueError("indicator targets y should hold only 0 and 1.")
            self.constant_ = np.where(y.min(axis=1) == y.max(axis=1), y[:, 0, :], -1)  # (B, L), -1 where fitted
            target = torch.as_tensor(y, dtype=X.dtype, device=device)
            losses = _Losses(X, target, False, l2, products)
            J = y.shape[2]
        else:
            self.classes_ = np.unique(y)
            if self.classes_.size < 2:
                one = self.classes_[0]
                raise ValueError(f"y holds one class ({one.item() if isinstance(one, np.generic) else one!r}); a "
                                 "classifier needs at least two.")
            lacking = [b for b in range(B) if np.unique(y[b]).size != self.classes_.size]
            if lacking:
                raise ValueError(f"problem {lacking[0]}'s labels hold {np.unique(y[lacking[0]]).size} of the "
                                 f"{self.classes_.size} classes of the batch; fit problems with other classes apart.")
            codes = np.searchsorted(self.classes_, y)
            binary = self.classes_.size == 2
            target = torch.as_tensor(codes[:, :, None] if binary else codes, device=device)
            losses = _Losses(X, target.to(X.dtype) if binary else target, not binary, l2, products)
            J = 1 if binary else self.classes_.size
        per_entry = 1 if losses.multinomial else J

        batch = {"rows": np.arange(B), "losses": losses}

        def evaluate(x, idx):  # points (k, params) of problems idx -> losses (k,), gradients (k, params)
            rows = np.unique(idx // per_entry)
            # Some problems are done: compute on the rest only. A shrink copies the remaining features once,
            # about the cost of one evaluation, and saves an evaluation of each finished problem per round.
            if rows.size < batch["rows"].size:
                keep = torch.as_tensor(np.searchsorted(batch["rows"], rows), device=device)
                batch["losses"] = batch["losses"].subset(keep)
                batch["rows"] = rows
            cur = batch["rows"]
            full = np.zeros((cur.size * per_entry, x.shape[1]))
            pos = np.searchsorted(cur, idx // per_entry) * per_entry + idx % per_entry
            full[pos] = x
            theta = torch.as_tensor(full, device=device)
            if per_entry == 1:
                theta = theta.view(cur.size, d + 1, J)
            else:
                theta = theta.view(cur.size, J, d + 1).transpose(1, 2)
            loss, grad = batch["losses"](theta)
            grad = grad if per_entry == 1 else grad.transpose(1, 2)
            loss = loss.reshape(-1).cpu().numpy()
            grad = grad.reshape(cur.size * per_entry, -1).cpu().numpy()
            return loss[pos], grad[pos]

        active = np.ones(B * per_entry, dtype=bool)
        if self.multilabel_:
            active = (self.constant_ < 0).ravel()
        x = np.zeros((B * per_entry, (d + 1) * (J if per_entry == 1 else 1)))
        x, n_iter = _lbfgsb(evaluate, x, self.tol, self.max_iter, active)
        theta = x.reshape(B, d + 1, J) if per_entry == 1 else x.reshape(B, J, d + 1).transpose(0, 2, 1)
        n_iter = n_iter.reshape(B, per_entry)
        self.coef_ = np.ascontiguousarray(theta[:, :-1].transpose(0, 2, 1))  # (B, J, d)
        self.intercept_ = np.ascontiguousarray(theta[:, -1])
        self.n_iter_ = n_iter
        self.n_features_in_ = d
        return self

    def decision_function(self, X):
        """Scores of shape (n_problems, n_samples, n_outputs)."""
        if not hasattr(self, "coef_"):
            raise NotFittedError("This BatchLogisticRegression instance is not fitted yet; call fit first.")
        X = _as_stack(X, torch.device("cpu")).numpy()
        if X.shape[0] != self.coef_.shape[0] or X.shape[2] != self.n_features_in_:
            raise ValueError(f"X has shape {X.shape}; expected ({self.coef_.shape[0]}, n_samples, "
                             f"{self.n_features_in_}) as in fit.")
        return np.matmul(X, self.coef_.transpose(0, 2, 1)) + self.intercept_[:, None, :]

    def predict(self, X):
        """Labels of shape (n_problems, n_samples), or 0/1 indicators (n_problems, n_samples, n_labels)."""
        scores = self.decision_function(X)
        if self.multilabel_:
            out = (scores > 0).astype(np.int64)
            fixed = self.constant_ >= 0  # (B, L)
            return np.where(fixed[:, None, :], self.constant_[:, None, :], out)
        if self.classes_.size == 2:
            return self.classes_[(scores[:, :, 0] > 0).astype(np.int64)]
        return self.classes_[scores.argmax(axis=2)]


def _as_stack(X, device):
    """A float64 tensor (B, n, d) on ``device`` from an array or tensor, refusing other shapes or NaN."""
    if isinstance(X, torch.Tensor):
        X = X.detach().to(device=device, dtype=torch.float64)
    else:
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise ValueError(f"X has dtype {X.dtype}; expected numbers.")
        X = torch.as_tensor(X.astype(np.float64, copy=False), device=device)
    if X.ndim != 3 or 0 in X.shape:
        raise ValueError(f"X has shape {tuple(X.shape)}; expected (n_problems, n_samples, n_features), none empty.")
    # A finite sum means every entry is finite (NaN and +-inf propagate); only a non-finite sum (or an
    # overflow of finite values) needs the entry-wise test.
    if not (torch.isfinite(X.sum()) or torch.isfinite(X).all()):
        raise ValueError("X holds NaN or infinite values; complete and clean the data first.")
    return X
