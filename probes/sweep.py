"""The layer sweep: one probe per layer, scored by AUROC with bootstrap intervals.

Every layer gets a cross-fitted AUROC on the trusted split (the only labels an audit is sure
to have) and, where truth is known for the evaluated rows, an AUROC against it. The layer to
read is the *earliest informative* one: the first whose AUROC gain over chance reaches 95%
of the best layer's (elk-generalization's rule; early layers are less shaped by what the
model is about to say). The embedding layer is a sanity check: no single token embedding
should know whether a statement is true, so a probe there must sit near chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Mapping

import numpy as np

from consistency.fitcache import FitCache, digest
from probes.base import Probe, estimator_key
from probes.metrics import auroc, bootstrap_auroc_ci, finite, out_of_fold, skip_bootstrap

EMBEDDING_LAYER = 0


@dataclass
class LayerFit:
    layer: int
    probes: list[Probe]  # one per cross-fitting fold
    oof: np.ndarray  # out-of-fold P(true) on the trusted split
    cv_auroc: float
    cv_ci: tuple[float, float]
    # the fold probes' mean P(true) on the evaluated rows: the same probes that produced the
    # out-of-fold readings, so thresholds set on those readings carry over (a probe refitted on
    # all trusted rows would be more confident than the readings it was calibrated on)
    eval_proba: np.ndarray | None = None
    eval_auroc: float = float("nan")  # against the evaluated rows' truth, where known
    eval_ci: tuple[float, float] = (float("nan"), float("nan"))

    def row(self) -> dict[str, Any]:
        """A JSON-able table row for reports."""
        return {
            "layer": self.layer,
            "cv_auroc": finite(self.cv_auroc),
            "cv_ci": [finite(v) for v in self.cv_ci],
            "eval_auroc": finite(self.eval_auroc),
            "eval_ci": [finite(v) for v in self.eval_ci],
        }


def sweep_layers(
    probe: Probe,
    train: Mapping[int, np.ndarray],
    y_train: np.ndarray,
    rng: np.random.Generator,
    evaluate: Mapping[int, np.ndarray] | None = None,
    y_eval: np.ndarray | None = None,
    folds: int = 5,
    n_boot: int = 1000,
    cache: FitCache | None = None,
    groups: np.ndarray | None = None,
    interval: bool = True,
    repeats: int = 1,
) -> list[LayerFit]:
    """Cross-fit and score clones of ``probe`` (an unfitted estimator) at every layer of
    ``train`` (layer -> feature rows).

    ``evaluate`` holds the audited rows per layer; ``y_eval`` their truth (NaN where unknown).
    Each mapping is read once per layer, in turn, so a mapping that reads a layer when asked
    (:class:`~consistency.answers.LayerFeatures`) need hold only one layer's rows.
    With a ``cache``, each layer's cross-fit is remembered by the probe's class and parameters
    and its training rows and labels, and its evaluation by the evaluated rows. With ``groups``
    (a group label per training row), rows of one group share a cross-fitting fold. With
    ``interval=False`` the evaluated rows get their readings only (``eval_auroc`` and
    ``eval_ci`` NaN), and ``rng`` is left where computing them would have left it, so every
    later layer's cross-fit draws the same folds either way.
    """
    cache = cache if cache is not None else FitCache()
    fits = []
    for layer in train:
        X = train[layer]
        fit_key = ("sweep", estimator_key(probe), digest(X, y_train), folds, repeats, n_boot) + (
            () if groups is None else (digest(groups),)
        )
        oof, probes, cv_auroc, cv_ci = cache.memo(
            fit_key, rng, partial(_cross_fit, probe, X, y_train, folds, rng, n_boot, groups, repeats)
        )
        del X  # fitted: the audited rows are read without the trusted ones beside them
        fit = LayerFit(layer, probes, oof, cv_auroc, cv_ci)
        if evaluate is not None:
            X_eval = evaluate[layer]
            eval_key = (fit_key, digest(X_eval, y_eval if y_eval is not None else "none"), interval)
            fit.eval_proba, fit.eval_auroc, fit.eval_ci = cache.memo(
                eval_key, rng,
                partial(_evaluate, probes, X_eval, y_eval, rng, n_boot) if interval
                else partial(_read, probes, X_eval, y_eval, rng, n_boot, cache),
            )
            del X_eval
        fits.append(fit)
    return fits


def _cross_fit(
    probe: Probe, X: np.ndarray, y: np.ndarray, folds: int, rng: np.random.Generator, n_boot: int,
    groups: np.ndarray | None = None, repeats: int = 1,
) -> tuple[np.ndarray, list[Probe], float, tuple[float, float]]:
    """Out-of-fold readings, the fold probes, and the readings' AUROC with its bootstrap interval."""
    oof, probes = out_of_fold(probe, X, y, folds, rng, groups, repeats)
    return oof, probes, auroc(oof, y), bootstrap_auroc_ci(oof, y, rng, n_boot)


def _evaluate(
    probes: list[Probe], X: np.ndarray, y: np.ndarray | None, rng: np.random.Generator, n_boot: int
) -> tuple[np.ndarray, float, tuple[float, float]]:
    """The fold probes' mean P(true) on ``X``, and its AUROC with interval where ``y`` is known."""
    proba = np.mean([probe.predict_proba(X)[:, 1] for probe in probes], axis=0)
    if y is None:
        return proba, float("nan"), (float("nan"), float("nan"))
    known = ~np.isnan(y)
    return proba, auroc(proba[known], y[known]), bootstrap_auroc_ci(proba[known], y[known], rng, n_boot)


def _read(
    probes: list[Probe], X: np.ndarray, y: np.ndarray | None, rng: np.random.Generator, n_boot: int, cache: FitCache
) -> tuple[np.ndarray, float, tuple[float, float]]:
    """:func:`_evaluate`'s readings alone; ``rng`` advanced past the interval's draws (the same
    draws from the same state every time, so the cache remembers where they leave it)."""
    proba = np.mean([probe.predict_proba(X)[:, 1] for probe in probes], axis=0)
    if y is not None:
        labels = y[~np.isnan(y)]
        cache.memo(("bootstrap-draws", int(np.count_nonzero(labels)), len(labels), n_boot), rng,
                   partial(skip_bootstrap, labels, rng, n_boot))
    return proba, float("nan"), (float("nan"), float("nan"))


def earliest_informative(aurocs: Mapping[int, float], fraction: float = 0.95) -> int | None:
    """The first layer whose AUROC - 0.5 reaches ``fraction`` of the best; None if none beats chance."""
    gains = {layer: value - 0.5 for layer, value in aurocs.items() if np.isfinite(value)}
    if not gains or max(gains.values()) <= 0:
        return None
    best = max(gains.values())
    return min(layer for layer, gain in gains.items() if gain >= fraction * best)


def embedding_sanity(fits: list[LayerFit], margin: float = 0.05) -> dict[str, Any] | None:
    """Whether the embedding-layer probe sits near chance (None when layer 0 was not swept).

    Flagged when the whole bootstrap interval of its cross-fitted AUROC lies outside
    0.5 +- ``margin``: a statement's truth readable from token embeddings means a leak (labels
    correlated with surface tokens, or features read at the wrong position), not knowledge, and
    inflates every deeper layer's AUROC by the same surface cue.
    """
    fit = next((f for f in fits if f.layer == EMBEDDING_LAYER), None)
    if fit is None:
        return None
    low, high = fit.cv_ci
    flagged = bool(low > 0.5 + margin or high < 0.5 - margin)
    return {
        "layer": EMBEDDING_LAYER,
        "cv_auroc": finite(fit.cv_auroc),
        "cv_ci": [finite(low), finite(high)],
        "margin": margin,
        "near_chance": not flagged,
        "message": (
            f"embedding-layer probe AUROC {fit.cv_auroc:.2f} (95% CI {low:.2f}-{high:.2f}) is far from chance: "
            "truth should not be readable from token embeddings: check the labels, the read position, and "
            "surface cues in the suite (a statement's last word that predicts its truth)"
            if flagged
            else ""
        ),
    }
