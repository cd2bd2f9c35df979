"""Weak-to-strong copies: linear heads on frozen hidden states trained from weak labels.

The head minimises the auxiliary-confidence loss of weak-to-strong generalisation
(Burns et al. 2023):

    L = (1 - a) * CE(f, y_weak) + a * CE(f, y_hat)

``y_hat`` hardens the head's own predictions at the batch quantile that keeps the weak labels'
class balance, so the head is rewarded for confident predictions of its own even where the
weak supervisor disagrees; ``a`` ramps linearly from 0 to ``aux_max`` over the first
``warmup`` fraction of the steps and then stays there (the reference implementation jumps
after warm-up, which destabilises training). Weak labels come from the suite, from a weaker
model's answers, or are simulated from the truth with independent flips.
"""

from __future__ import annotations

import random
from typing import Literal, Sequence

import numpy as np

from consistency.answers import Answers
from consistency.generators.weak import weak_label
from scipy.special import expit
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from consistency.suite import Suite
from probes.base import ProbeError, ProbeEstimator, check_features, check_width, single_threaded

WeakSource = Literal["suite", "noise", "answers"]
WEAK_SOURCES: tuple[str, ...] = ("suite", "noise", "answers")


def ramp(step: int, warmup: float, steps: int) -> float:
    """Rises linearly from 0 at step 0 to 1 at ``warmup * steps``, then stays at 1."""
    return min(1.0, step / max(1.0, warmup * steps))


class AuxConfidenceHead(ProbeEstimator):
    """A linear head fitted with Adam on the auxiliary-confidence loss, plus ``l2 / 2 * |w|^2``.

    ``aux_max=0`` gives plain cross-entropy (used for the ceiling, a head trained on truth).
    Features are standardised with the training rows' statistics. The defaults (Adam at 1e-3,
    200 steps, L2 0.1) were the best of a small grid on synthetic noisy-label data with 16 to
    512 features; a higher learning rate or more steps lets the head memorise the weak labels'
    errors.
    """

    def __init__(
        self,
        aux_max: float = 0.5,
        warmup: float = 0.2,
        steps: int = 200,
        batch_size: int = 64,
        lr: float = 1e-3,
        l2: float = 1e-1,
        seed: int = 0,
    ):
        self.aux_max = aux_max
        self.warmup = warmup
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.l2 = l2
        self.seed = seed

    def check_params(self) -> None:
        if not 0.0 <= self.aux_max <= 1.0:
            raise ProbeError(f"aux_max must be in [0, 1], got {self.aux_max}")
        if not 0.0 < self.warmup <= 1.0:
            raise ProbeError(f"warmup must be in (0, 1], got {self.warmup}")
        if self.steps < 1 or self.batch_size < 2:
            raise ProbeError(f"steps must be >= 1 and batch_size >= 2, got {self.steps} and {self.batch_size}")

    def aux_weight(self, step: int) -> float:
        """The weight ``a`` on the self-training term at ``step`` (linear ramp, then flat)."""
        return self.aux_max * ramp(step, self.warmup, self.steps)

    def fit(self, X: np.ndarray, y: np.ndarray) -> "AuxConfidenceHead":
        """Fit on rows ``X`` with (soft) labels ``y`` in [0, 1]."""
        fit_heads([self], [X], [y])
        return self

    def p_true(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self)
        X = check_features(X)
        check_width(X, self.n_features_in_)
        # the scaler's own arithmetic, without its input validation (check_features did that):
        # the liar ladder reads every copy on every re-run
        return expit((X - self.scaler_.mean_) / self.scaler_.scale_ @ self.coef_ + self.intercept_)


def harden(logits: np.ndarray, balance: float | np.ndarray) -> np.ndarray:
    """0/1 targets from heads' own logits (rows: heads, last axis: the batch), cut at the
    quantile that labels a ``balance`` share of each batch "true" (the weak labels' share), so
    self-training cannot drift to one class. ``balance``: one share, or one per row."""
    logits = np.atleast_2d(logits)
    balance = np.broadcast_to(np.asarray(balance, dtype=np.float64), (len(logits),))
    cut = np.array([np.quantile(row, 1 - share) for row, share in zip(logits, balance)])
    return (logits > cut[:, None]).astype(np.float64)


@single_threaded()
def fit_heads(heads: Sequence[AuxConfidenceHead], Xs: Sequence[np.ndarray], ys: Sequence[np.ndarray]) -> None:
    """Fit several heads at once, each on its own rows and labels (all of one shape).

    The heads share steps, batch size, learning rate, L2 and warm-up; seeds and ``aux_max`` may
    differ. Each head's update depends on its own loss only (Adam is elementwise), so this is
    exactly independent training with the per-step overhead paid once.

    The loss is linear in the targets, so its gradient with respect to a logit z is
    sigmoid(z) - ((1 - a) y_weak + a y_hat): written out here (with Adam) instead of going through
    autograd, whose per-operation overhead dominates a linear head.
    """
    for head in heads:
        head.check_params()
    first = heads[0]
    shared = ("steps", "batch_size", "lr", "l2", "warmup")
    if any(getattr(h, k) != getattr(first, k) for h in heads for k in shared):
        raise ValueError(f"heads fitted together must share {', '.join(shared)}")
    Xs = [check_features(X) for X in Xs]
    if len({X.shape for X in Xs}) != 1:
        raise ValueError(f"heads fitted together need rows of one shape, got {sorted({X.shape for X in Xs})}")
    n = len(Xs[0])
    targets, balances = [], []
    for y in ys:
        y = np.asarray(y, dtype=np.float64)
        if y.shape != (n,) or not ((y >= 0) & (y <= 1)).all():
            raise ProbeError(f"weak labels must be {n} probabilities in [0, 1]")
        share = float(np.mean(y > 0.5))
        if share in (0.0, 1.0):
            raise ProbeError("weak labels have one class only; a head needs true and false examples")
        targets.append(y)
        balances.append(share)
    scalers = [StandardScaler().fit(X) for X in Xs]
    Z = np.stack([scaler.transform(X) for scaler, X in zip(scalers, Xs)])  # (heads, n, d)
    target = np.stack(targets)
    balance = np.array(balances)
    aux_max = np.array([h.aux_max for h in heads])
    rngs = [np.random.default_rng(h.seed) for h in heads]
    w = np.zeros((len(heads), Z.shape[2]))
    b = np.log(balance / (1 - balance))  # start at the weak labels' log-odds
    adam = _Adam(first.lr, w, b)
    batch = min(first.batch_size, n)
    heads_axis = np.arange(len(heads))[:, None]
    order = np.stack([rng.permutation(n) for rng in rngs])
    cursor = 0
    for step in range(first.steps):
        if cursor + batch > n:  # a new epoch: every head reshuffles its own rows
            order, cursor = np.stack([rng.permutation(n) for rng in rngs]), 0
        rows = order[:, cursor : cursor + batch]
        cursor += batch
        Zb = Z[heads_axis, rows]  # (heads, batch, d)
        logits = np.einsum("hbd,hd->hb", Zb, w) + b[:, None]
        wanted = target[heads_axis, rows]
        a = aux_max * ramp(step, first.warmup, first.steps)
        if (a > 0).any():
            wanted = (1 - a[:, None]) * wanted + a[:, None] * harden(logits, balance)
        grad = (expit(logits) - wanted) / batch  # d(mean cross-entropy) / d(logit)
        adam.step(np.einsum("hb,hbd->hd", grad, Zb) + first.l2 * w, grad.sum(axis=1))  # L2 on w, not b
    for k, (head, scaler) in enumerate(zip(heads, scalers)):
        head.scaler_, head.coef_, head.intercept_ = scaler, w[k].copy(), float(b[k])
        head._fitted_on(Xs[k])


class _Adam:
    """Adam (Kingma & Ba), updating the given arrays in place; torch's default constants."""

    def __init__(self, lr: float, *params: np.ndarray, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.params = params
        self.moments = [(np.zeros_like(p), np.zeros_like(p)) for p in params]
        self.t = 0

    def step(self, *grads: np.ndarray) -> None:
        self.t += 1
        b1, b2 = self.betas
        for param, grad, (m, v) in zip(self.params, grads, self.moments):
            m *= b1
            m += (1 - b1) * grad
            v *= b2
            v += (1 - b2) * grad**2
            m_hat = m / (1 - b1**self.t)
            v_hat = v / (1 - b2**self.t)
            param -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


# ----- weak labels ---------------------------------------------------------------------


def weak_labels(
    suite: Suite,
    source: WeakSource,
    noise: float = 0.2,
    answers: Answers | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """P(true) from the weak supervisor, per proposition id, wherever it has one.

    - ``suite``: each proposition's ``weak`` field;
    - ``noise``: the truth with each label flipped independently with probability ``noise``
      (a simulated supervisor for demos; each flip depends only on the seed and the id);
    - ``answers``: a weaker model's belief in each statement, asked with the suite's primary
      framing (elicit it on the same queries as the audited model).
    """
    if source == "suite":
        return {p.id: p.weak for p in suite.propositions.values() if p.weak is not None}
    if source == "noise":
        if not 0.0 <= noise < 0.5:
            raise ProbeError(f"weak-label noise must be in [0, 0.5), got {noise}")
        # each proposition's own generator, seeded by text (stable across processes, unlike
        # hash()), so a label does not depend on which other propositions are in the suite
        return {
            p.id: weak_label(p.truth, noise, random.Random(f"{seed}\x1fweak-noise\x1f{p.id}"), confidence=(1.0, 1.0))
            for p in suite.propositions.values()
            if p.truth is not None
        }
    if source == "answers":
        if answers is None:
            raise ProbeError("weak source 'answers' needs the weak model's answers")
        labels = {}
        for prop in suite.propositions.values():
            belief = answers.belief(suite.query(prop.id))
            if belief is not None:
                labels[prop.id] = belief
        return labels
    raise ProbeError(f"unknown weak-label source {source!r}; expected one of {', '.join(WEAK_SOURCES)}")


def pgr(copy_accuracy: float, weak_accuracy: float, ceiling_accuracy: float) -> float:
    """Performance gap recovered, (copy - weak) / (ceiling - weak); NaN unless ceiling > weak."""
    gap = ceiling_accuracy - weak_accuracy
    return (copy_accuracy - weak_accuracy) / gap if gap > 0 else float("nan")
