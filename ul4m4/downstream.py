"""Downstream classifiers trained on completed embeddings: the paper's fusion model and a linear probe.

The fusion model follows METHOD.md section 7: a Linear projection of each modality to a common width,
L layers of multi-head self-attention over the M modality tokens (each followed by residual +
LayerNorm), mean pooling, Linear + ReLU, and a linear head. Inputs are standardised with training
statistics. Both classifiers handle single-label and multilabel (0/1 indicator) targets.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.preprocessing import LabelEncoder, StandardScaler
from torch import nn

from .logistic import BatchLogisticRegression
from .validation import NotFittedError, check_random_state, check_Xs, resolve_device

__all__ = ["FusionNet", "FusionClassifier", "LinearProbe", "linear_probe_predictions", "CLASSIFIERS",
           "make_classifier"]

CLASSIFIERS = {
    "linear": "Linear probe (logistic regression on the concatenated, standardised modalities)",
    "fusion": "Paper's fusion model (per-modality projection + self-attention over modality tokens)",
}


class FusionNet(nn.Module):
    """Attention fusion over modality tokens. Holds no device, seed or file logic.

    Parameters
    ----------
    dims : list of int, features per modality
    n_outputs : int, classes (single-label) or labels (multilabel)
    width, heads, layers, hidden : int
    """

    def __init__(self, dims, n_outputs, width=64, heads=4, layers=2, hidden=64):
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(d, width) for d in dims)
        self.attn = nn.ModuleList(nn.MultiheadAttention(width, heads, batch_first=True) for _ in range(layers))
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(layers))
        self.hidden = nn.Sequential(nn.Linear(width, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, n_outputs)

    def forward(self, xs):
        """xs: list of M tensors (b, d_m) -> logits (b, n_outputs)."""
        tokens = torch.stack([p(x) for p, x in zip(self.proj, xs)], dim=1)  # (b, M, width)
        for attn, norm in zip(self.attn, self.norms):
            out, _ = attn(tokens, tokens, tokens, need_weights=False)
            tokens = norm(tokens + out)
        return self.head(self.hidden(tokens.mean(dim=1)))  # mean pooling over modalities


def _labels(y):
    y = np.asarray(y)
    if y.ndim == 2:
        return y.astype(np.float32), None
    enc = LabelEncoder().fit(y)
    return enc.transform(y), enc


class FusionClassifier(BaseEstimator):
    """Train ``FusionNet`` on completed multimodal data (CPU deterministic for a given seed).

    Parameters
    ----------
    width : int, default=64
    heads : int, default=4
    layers : int, default=2
    hidden : int, default=64
    epochs : int, default=15
        The paper trains 15 epochs (MM-IMDb: width 256, Adam 5e-5); the smaller width and larger step
        here suit datasets of a few thousand samples on a CPU.
    lr : float, default=3e-3
    batch_size : int, default=128
    random_state : int, default=0
    device : {None, "auto", "cpu", "cuda"}, default=None
    """

    def __init__(self, width=64, heads=4, layers=2, hidden=64, epochs=15, lr=3e-3, batch_size=128,
                 random_state=0, device=None):
        self.width = width
        self.heads = heads
        self.layers = layers
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.random_state = random_state
        self.device = device

    def _tensors(self, Xs):
        return [torch.as_tensor(sc.transform(X), dtype=torch.float32, device=self.device_) for sc, X in zip(self.scalers_, Xs)]

    def fit(self, Xs, y):
        Xs, mask = check_Xs(Xs)
        if not mask.all():
            raise ValueError("FusionClassifier needs complete data; impute the missing modalities first.")
        if self.width % self.heads:
            raise ValueError(f"width={self.width} should be divisible by heads={self.heads}.")
        rng = check_random_state(self.random_state)
        seed = int(rng.integers(2**31 - 1))
        self.device_ = resolve_device(self.device, None)
        target, self.encoder_ = _labels(y)
        self.multilabel_ = self.encoder_ is None
        n_out = target.shape[1] if self.multilabel_ else len(self.encoder_.classes_)
        self.scalers_ = [StandardScaler().fit(X) for X in Xs]
        xs = self._tensors(Xs)
        t = torch.as_tensor(target, device=self.device_)
        # Parameter initialisation draws from torch's global generator: fork it so the caller's state is
        # untouched and the same seed gives the same network.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.model_ = FusionNet([X.shape[1] for X in Xs], n_out, self.width, self.heads, self.layers,
                                    self.hidden).to(self.device_)
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        loss_fn = nn.BCEWithLogitsLoss() if self.multilabel_ else nn.CrossEntropyLoss()
        n = xs[0].shape[0]
        self.model_.train()
        for _ in range(self.epochs):
            order = torch.randperm(n, generator=gen).to(self.device_)
            for s in range(0, n, self.batch_size):
                b = order[s : s + self.batch_size]
                opt.zero_grad()
                loss = loss_fn(self.model_([x[b] for x in xs]), t[b])
                loss.backward()
                opt.step()
        self.model_.eval()
        return self

    @torch.no_grad()
    def predict(self, Xs):
        if not hasattr(self, "model_"):
            raise RuntimeError("This FusionClassifier is not fitted yet; call fit first.")
        Xs, _ = check_Xs(Xs, n_modalities=len(self.scalers_), dims=[s.n_features_in_ for s in self.scalers_])
        logits = self.model_(self._tensors(Xs)).cpu().numpy()
        if self.multilabel_:
            return (logits > 0).astype(np.int64)
        return self.encoder_.inverse_transform(logits.argmax(axis=1))


class LinearProbe(BaseEstimator):
    """Logistic regression on the concatenated, standardised modalities (one-vs-rest for multilabel).

    What scikit-learn's ``StandardScaler`` followed by ``LogisticRegression(C=C, max_iter=max_iter)``
    (in ``OneVsRestClassifier`` for multilabel targets) gives, up to rounding: the same objective and
    the same L-BFGS-B steps, in torch (``logistic.BatchLogisticRegression``). ``linear_probe_predictions``
    fits many probes at once with the same code.

    Parameters
    ----------
    C : float, default=1.0
    max_iter : int, default=100
        A fixed lbfgs budget: data completed by copying centres is ill-conditioned and would otherwise
        take seconds to converge, for no change in the scores beyond the third decimal.
    device : {None, "auto", "cpu", "cuda"}, default=None
    """

    def __init__(self, C=1.0, max_iter=100, device=None):
        self.C = C
        self.max_iter = max_iter
        self.device = device

    def fit(self, Xs, y):
        Xs, mask = check_Xs(Xs)
        if not mask.all():
            raise ValueError("LinearProbe needs complete data; impute the missing modalities first.")
        X = torch.as_tensor(np.hstack(Xs).astype(np.float64, copy=False))[None]
        self.mean_, self.scale_ = _scaling(X)
        self.clf_ = BatchLogisticRegression(C=self.C, max_iter=self.max_iter, device=self.device)
        self.clf_.fit(_standardised(X, self.mean_, self.scale_), np.asarray(y)[None])
        self.dims_ = [A.shape[1] for A in Xs]
        return self

    def predict(self, Xs):
        if not hasattr(self, "clf_"):
            raise NotFittedError("This LinearProbe is not fitted yet; call fit first.")
        Xs, _ = check_Xs(Xs, n_modalities=len(self.dims_), dims=self.dims_)
        X = torch.as_tensor(np.hstack(Xs).astype(np.float64, copy=False))[None]
        return self.clf_.predict(_standardised(X, self.mean_, self.scale_))[0]


def _scaling(X):
    """Each problem's training mean and scale, as ``StandardScaler`` (near-constant features keep scale 1).
    X: float64 tensor (B, n, d) -> mean, scale of shape (B, 1, d)."""
    var, mean = torch.var_mean(X, dim=1, correction=0, keepdim=True)
    n, eps = X.shape[1], torch.finfo(X.dtype).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2  # StandardScaler's test for a constant feature
    return mean, torch.where(constant, torch.ones_like(var), var.sqrt())


def _standardised(X, mean, scale):
    return (X - mean) / scale


def linear_probe_predictions(units, *, C=1.0, max_iter=100, device=None, products="float64"):
    """Fit one ``LinearProbe`` per unit, all at once, and predict each unit's test rows.

    Units of the same shape and classes are stacked and fitted together; the result is what
    ``LinearProbe`` gives each unit alone, up to rounding.

    Parameters
    ----------
    units : list of (X_train, y_train, X_test), X_* of shape (n, n_features) (the concatenated, completed
        modalities), y_train labels (n_train,) or 0/1 indicators (n_train, n_labels)
    C, max_iter, device : as ``LinearProbe``

    Returns
    -------
    list of ndarray, each unit's predicted labels (or indicators) for its test rows
    """
    groups = {}
    for i, (Xtr, ytr, Xte) in enumerate(units):
        ytr = np.asarray(ytr)
        classes = None if ytr.ndim == 2 else tuple(np.unique(ytr).tolist())
        groups.setdefault((Xtr.shape, Xte.shape, ytr.shape, classes), []).append(i)
    out = [None] * len(units)
    for members in groups.values():
        Xtr = torch.as_tensor(np.stack([units[i][0] for i in members]).astype(np.float64, copy=False))
        Xte = torch.as_tensor(np.stack([units[i][2] for i in members]).astype(np.float64, copy=False))
        mean, scale = _scaling(Xtr)
        clf = BatchLogisticRegression(C=C, max_iter=max_iter, device=device, products=products)
        Xtr.sub_(mean).div_(scale)  # in place: Xtr is this function's own stacked copy
        clf.fit(Xtr, np.stack([units[i][1] for i in members]))
        pred = clf.predict(_standardised(Xte, mean, scale))
        for i, p in zip(members, pred):
            out[i] = p
    return out


def make_classifier(name, random_state=0, device=None, **kwargs):
    """A fresh classifier by name ("linear" or "fusion")."""
    if name == "linear":
        return LinearProbe(device=device, **kwargs)
    if name == "fusion":
        return FusionClassifier(random_state=random_state, device=device, **kwargs)
    raise ValueError(f"classifier={name!r} is not known; expected one of {sorted(CLASSIFIERS)}.")
