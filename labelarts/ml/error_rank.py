"""How likely each auto label is wrong, and which ones to flag for review.

**The estimate** ``p_wrong`` combines two signals of the sample's predicted class ``c``:

* the calibrated confidence ``q`` (the head's probability of ``c``);
* the neighbours' agreement ``a``: the mean, over the sample's :data:`NEIGHBOURS` nearest other
  samples (labeled and being labeled; cosine geometry, :func:`labelarts.ml.selection.embed`), of
  their probability of ``c`` (one-hot for a human label, the calibrated probabilities for an
  auto label). A prediction its neighbours do not share is more often wrong than its confidence
  alone says.

They are combined by a logistic regression on ``logit(1 - q)`` and ``logit(1 - a)`` fitted on
the labeled samples, whose out-of-fold predictions (from the fold models that did not train on
them) are right or wrong with a known answer: ``p_wrong`` is thereby calibrated on the same
evidence as the confidence. With fewer than :data:`MIN_EACH` out-of-fold errors (or right
answers) there is nothing to fit and ``p_wrong = 1 - q``.

**The flag rule** (:func:`flag_by_error_mass`): sort by ``p_wrong``, highest first, and flag
until the flagged samples hold :data:`FLAG_RECALL` (90%) of the expected number of wrong labels
``sum(p_wrong)``: with calibrated estimates the expected recall is 90% (measured: 83-93% where
the estimate is well calibrated, less where it is not; docs/autolabel-quality.md). A sample with ``p_wrong``
under :data:`MIN_P_WRONG` is never flagged: where errors are rare (a clean data set) their
expected count is spread thinly over many samples, and flagging them would give a reviewer pages
of right labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors

from labelarts.ml.selection import embed

__all__ = [
    "FLAG_RECALL",
    "MIN_EACH",
    "MIN_P_WRONG",
    "NEIGHBOURS",
    "ErrorEstimate",
    "estimate_p_wrong",
    "flag_by_error_mass",
]

NEIGHBOURS = 10
FLAG_RECALL = 0.9
MIN_P_WRONG = 0.15
MIN_EACH = 5
REFERENCE_MAX = 20_000
"""Neighbours are searched among at most this many samples (a fixed random subset; seed 0)."""
_EPS = 1e-4


@dataclass
class ErrorEstimate:
    """``p_wrong`` (n_u,): estimated probability that each auto label is wrong. ``agreement``
    (n_u,): the neighbours' mean probability of the predicted class. ``weights``: (intercept,
    weight of logit(1 - q), weight of logit(1 - a)); ``(0, 1, 0)`` means ``p_wrong = 1 - q``."""

    p_wrong: NDArray[np.float64]
    agreement: NDArray[np.float64]
    weights: tuple[float, float, float]


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.asarray(np.log(q / (1.0 - q)), dtype=np.float64)


def estimate_p_wrong(
    X_labeled: np.ndarray,
    y_labeled: np.ndarray,
    oof_proba: np.ndarray,
    X_unlabeled: np.ndarray,
    proba: np.ndarray,
    *,
    seed: int = 0,
) -> ErrorEstimate:
    """``p_wrong`` of each unlabeled sample (see the module doc). ``oof_proba``: calibrated
    out-of-fold probabilities of the labeled samples; ``proba``: calibrated probabilities of the
    unlabeled ones."""
    y = np.asarray(y_labeled, dtype=np.int64)
    oof = np.asarray(oof_proba, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    n_lab, n_unl = y.size, p.shape[0]
    if oof.shape != (n_lab, p.shape[1]):
        raise ValueError(f"oof_proba must be ({n_lab}, {p.shape[1]}), got {oof.shape}")
    n_classes = p.shape[1]
    # Each sample's class probabilities as its neighbours see them.
    given = np.zeros((n_lab + n_unl, n_classes))
    given[np.arange(n_lab), y] = 1.0
    given[n_lab:] = p
    both = _stack(X_labeled, X_unlabeled)
    emb = embed(both, seed=seed)
    total = emb.shape[0]
    if total > REFERENCE_MAX:
        reference = np.sort(np.random.default_rng(0).choice(total, REFERENCE_MAX, replace=False))
    else:
        reference = np.arange(total)
    k = min(NEIGHBOURS, len(reference) - 1)
    predicted = p.argmax(axis=1)
    oof_predicted = oof.argmax(axis=1)
    if k < 1:
        agreement_all = np.ones(total)
    else:
        index = NearestNeighbors(n_neighbors=k + 1).fit(emb[reference])
        agreement_all = np.empty(total)
        target = np.concatenate([oof_predicted, predicted])
        for start in range(0, total, 8192):
            stop = min(total, start + 8192)
            _, ind = index.kneighbors(emb[start:stop])
            neighbours = reference[ind]
            rows = np.arange(start, stop)
            # Leave the sample out of its own neighbours (else drop the farthest).
            keep = neighbours != rows[:, None]
            keep[keep.all(axis=1), -1] = False
            nb = neighbours[keep].reshape(stop - start, k)
            agreement_all[start:stop] = given[nb, target[rows, None]].mean(axis=1)
    agreement = agreement_all[n_lab:]
    q = p[np.arange(n_unl), predicted]
    wrong_oof = oof_predicted != y
    weights = (0.0, 1.0, 0.0)
    if n_lab and wrong_oof.sum() >= MIN_EACH and (~wrong_oof).sum() >= MIN_EACH:
        q_oof = oof[np.arange(n_lab), oof_predicted]
        features = np.stack([_logit(1.0 - q_oof), _logit(1.0 - agreement_all[:n_lab])], axis=1)
        model = LogisticRegression(C=1.0).fit(features, wrong_oof)
        weights = (float(model.intercept_[0]), float(model.coef_[0, 0]), float(model.coef_[0, 1]))
    if weights == (0.0, 1.0, 0.0):
        p_wrong = 1.0 - q
    else:
        logits = weights[0] + weights[1] * _logit(1.0 - q) + weights[2] * _logit(1.0 - agreement)
        p_wrong = 1.0 / (1.0 + np.exp(-logits))
    return ErrorEstimate(np.clip(p_wrong, 0.0, 1.0), agreement, weights)


def _stack(a: np.ndarray, b: np.ndarray) -> NDArray[np.float32]:
    out = np.empty((np.shape(a)[0] + np.shape(b)[0], np.shape(a)[1]), dtype=np.float32)
    out[: np.shape(a)[0]] = a
    for start in range(0, np.shape(b)[0], 8192):
        stop = min(np.shape(b)[0], start + 8192)
        out[np.shape(a)[0] + start : np.shape(a)[0] + stop] = b[start:stop]
    return out


def flag_by_error_mass(
    p_wrong: np.ndarray, *, recall: float = FLAG_RECALL, min_p_wrong: float = MIN_P_WRONG
) -> NDArray[np.bool_]:
    """Flag the highest ``p_wrong`` until the flagged hold ``recall`` of ``sum(p_wrong)``; never a
    sample under ``min_p_wrong``."""
    pw = np.asarray(p_wrong, dtype=np.float64)
    if not 0.0 < recall <= 1.0:
        raise ValueError(f"recall must be within (0, 1], got {recall}")
    flags = np.zeros(pw.size, dtype=bool)
    total = float(pw.sum())
    if pw.size == 0 or total <= 0.0:
        return flags
    order = np.argsort(-pw, kind="stable")
    cumulative = np.cumsum(pw[order])
    count = min(int(np.searchsorted(cumulative, recall * total - 1e-12)) + 1, pw.size)
    flags[order[:count]] = True
    flags &= pw >= min_p_wrong
    return flags
