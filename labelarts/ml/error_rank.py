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

**A third signal, where perturbed copies exist** (images whose copies were encoded, within the
budget; :func:`labelarts.ml.pipeline.auto_label`): the agreement under augmentation ``g``, the
mean over the sample's copies of the codes in :data:`AUGMENT_CODES` of their calibrated
probability of ``c``. For a labeled sample the copies are predicted by the same fold model as its
out-of-fold prediction, so a second logistic regression, on ``logit(1 - q)``, ``logit(1 - a)``
and ``logit(1 - g)``, is fitted on the labeled samples that have copies, exactly as the first.
A sample without copies (text, audio, outside the budget), or any sample when fewer than
:data:`MIN_EACH` wrong (or right) labeled samples have copies, keeps the two-signal estimate.

**The flag rule** (:func:`flag_by_error_mass`): sort by ``p_wrong``, highest first, and flag
until the flagged samples hold :data:`FLAG_RECALL` (90%) of the expected number of wrong labels
``sum(p_wrong)``: with calibrated estimates the expected recall is 90% (measured: 83-93% where
the estimate is well calibrated, less where it is not; docs/autolabel-quality.md). A sample with ``p_wrong``
under :data:`MIN_P_WRONG` is never flagged: where errors are rare (a clean data set) their
expected count is spread thinly over many samples, and flagging them would give a reviewer pages
of right labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors

from labelarts.ml.selection import embed

__all__ = [
    "AUGMENT_CODES",
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
AUGMENT_CODES = (20, 21, 24)
"""The perturbations whose copies give the third signal: mirror, central crop, shift (hard
reasons 20, 21, 24), the ones that keep what a photo shows; blur, colour changes and upside-down
copies are checked by their own hard reasons only."""

Copies = Mapping[int, tuple[np.ndarray, np.ndarray]]
"""Reason code -> (indices of the samples with a copy, calibrated probabilities (n, C) of the copies)."""


@dataclass
class ErrorEstimate:
    """``p_wrong`` (n_u,): estimated probability that each auto label is wrong. ``agreement``
    (n_u,): the neighbours' mean probability of the predicted class. ``weights``: (intercept,
    weight of logit(1 - q), weight of logit(1 - a)); ``(0, 1, 0)`` means ``p_wrong = 1 - q``.
    ``augment_agreement`` (n_u,): the copies' mean probability of the predicted class, NaN for a
    sample without copies. ``augment_weights``: (intercept, weights of logit(1 - q), logit(1 - a),
    logit(1 - g)) of the three-signal fit, which gave ``p_wrong`` of the samples with copies; None
    when it was not fitted (then every ``p_wrong`` is the two-signal one)."""

    p_wrong: NDArray[np.float64]
    agreement: NDArray[np.float64]
    weights: tuple[float, float, float]
    augment_agreement: NDArray[np.float64]
    augment_weights: tuple[float, float, float, float] | None = None


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
    copies_labeled: Copies | None = None,
    copies_unlabeled: Copies | None = None,
    seed: int = 0,
) -> ErrorEstimate:
    """``p_wrong`` of each unlabeled sample (see the module doc). ``oof_proba``: calibrated
    out-of-fold probabilities of the labeled samples; ``proba``: calibrated probabilities of the
    unlabeled ones. ``copies_*``: perturbed copies' calibrated probabilities (out-of-fold for the
    labeled ones), per reason code; codes outside :data:`AUGMENT_CODES` are ignored."""
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

    copy_lab = _copy_agreement(copies_labeled, oof_predicted, n_lab, n_classes, "copies_labeled")
    copy_unl = _copy_agreement(copies_unlabeled, predicted, n_unl, n_classes, "copies_unlabeled")
    augment_weights = None
    has = np.isfinite(copy_lab)
    if weights != (0.0, 1.0, 0.0) and min((wrong_oof & has).sum(), (~wrong_oof & has).sum()) >= MIN_EACH:
        q_oof = oof[has, oof_predicted[has]]
        features = np.stack(
            [_logit(1.0 - q_oof), _logit(1.0 - agreement_all[:n_lab][has]), _logit(1.0 - copy_lab[has])],
            axis=1,
        )
        model = LogisticRegression(C=1.0).fit(features, wrong_oof[has])
        w = [float(v) for v in model.coef_[0]]
        augment_weights = (float(model.intercept_[0]), w[0], w[1], w[2])
        mine = np.isfinite(copy_unl)
        signals = [_logit(1.0 - q[mine]), _logit(1.0 - agreement[mine]), _logit(1.0 - copy_unl[mine])]
        logits = augment_weights[0] + np.stack(signals, axis=1) @ np.asarray(augment_weights[1:])
        p_wrong[mine] = 1.0 / (1.0 + np.exp(-logits))
    return ErrorEstimate(np.clip(p_wrong, 0.0, 1.0), agreement, weights, copy_unl, augment_weights)


def _copy_agreement(
    copies: Copies | None, target: NDArray[np.int64], n: int, n_classes: int, name: str
) -> NDArray[np.float64]:
    """Mean probability of ``target`` over each sample's copies of :data:`AUGMENT_CODES`; NaN without any."""
    total, count = np.zeros(n), np.zeros(n)
    for code, (indices, copy_proba) in (copies or {}).items():
        if int(code) not in AUGMENT_CODES:
            continue
        idx = np.asarray(indices, dtype=np.int64)
        pr = np.asarray(copy_proba, dtype=np.float64)
        if idx.ndim != 1 or pr.shape != (idx.size, n_classes):
            raise ValueError(f"{name}[{code}] must be indices (m,) and probabilities (m, {n_classes})")
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"{name}[{code}] indices must be within [0, {n})")
        np.add.at(total, idx, pr[np.arange(idx.size), target[idx]])
        np.add.at(count, idx, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1.0), np.nan)


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
