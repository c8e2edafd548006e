"""Probably wrong human labels: confident learning on out-of-fold predictions.

Written here from the paper (Northcutt, Jiang and Chuang, "Confident Learning: Estimating
Uncertainty in Dataset Labels", JAIR 2021); cleanlab, the authors' library, is AGPL and not used.

Input: for every labeled sample, its given label ``y`` and calibrated class probabilities
``p`` predicted by a model that did **not** train on that sample (out-of-fold). Steps:

1. **Per-class thresholds** ``t_j``: the mean of ``p[:, j]`` over the samples labeled ``j``
   (the model's average self-confidence on class ``j``).
2. **Confident joint** ``C[i, j]``: the samples labeled ``i`` whose probability reaches the
   threshold of class ``j`` (``p[:, j] >= t_j``), counted under the most probable such ``j``.
   A sample that reaches no threshold is not counted.
3. **Calibration**: each row of ``C`` is rescaled to the number of samples labeled ``i``, so
   ``C[i, j]`` estimates how many samples labeled ``i`` truly belong to ``j``.
4. **Rank by self-confidence within each label**: of the samples labeled ``i``, the
   ``round(sum_j!=i C[i, j])`` with the lowest ``p[:, i]`` are flagged. (Pruning per
   off-diagonal cell by the margin ``p[:, j] - p[:, i]`` instead missed flips whose true class
   the model was sure of but below that class's threshold, and found 5-10 points fewer of the
   planted flips on the shared data at the same precision.)
5. A flagged sample whose most probable class is its given label is unflagged (the model
   agrees with the person), as cleanlab does by default.
6. **Precision guard**: a flagged sample stays flagged only if the model gives its label less
   than half the chance level, ``p[given] < chance_fraction / n_classes`` (0.5 / C). Confident
   learning's count assumes the model is mostly right; where the encoder itself confuses
   classes (CIFAR-10 at 32 px: a quarter of out-of-fold predictions wrong), the count also
   takes in the model's own mistakes, and flagged 3-4 times as many samples as were flipped,
   at 15-40% precision. Genuinely wrong labels get much lower probabilities than mere
   confusions between similar classes (measured in docs/autolabel-quality.md).

The flagged set's size is thus estimated from the data (at most about the number of wrong
labels) rather than set by a fixed cut-off. Each flagged sample also gets ``suggested`` (the most
probable class other than its label) and ``p_wrong = 1 - p[given]`` (the calibrated chance
that the label is wrong), which orders the flags for review.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "CHANCE_FRACTION",
    "LABEL_ERROR",
    "LABEL_ERROR_NAME",
    "LabelErrors",
    "find_label_errors",
    "label_error_detail",
]


@dataclass
class LabelErrors:
    """``issue``: bool (n,), the label is probably wrong. ``p_wrong``: (n,) ``1 - p[given]``.
    ``suggested``: (n,) the most probable class other than the given one, ``p_suggested`` its
    probability. ``confident_joint``:
    the calibrated (C, C) estimate of counts (given label, true label). ``n_estimated``: the sum
    of its off-diagonal, the estimated number of wrong labels."""

    issue: NDArray[np.bool_]
    p_wrong: NDArray[np.float64]
    suggested: NDArray[np.int64]
    p_suggested: NDArray[np.float64]
    confident_joint: NDArray[np.float64]
    n_estimated: float


CHANCE_FRACTION = 0.5
"""Step 6: a flag needs ``p[given] < CHANCE_FRACTION / n_classes``."""


def find_label_errors(
    proba: np.ndarray, labels: np.ndarray, *, n_classes: int, chance_fraction: float = CHANCE_FRACTION
) -> LabelErrors:
    """Flag the labels that are probably wrong, from out-of-fold class probabilities ``proba``
    (n, n_classes) and the given class indices ``labels`` (n,). ``chance_fraction``: step 6
    (1.0 or more: a label below chance; ``n_classes`` or more turns the guard off). Bad input
    raises ValueError."""
    p = np.asarray(proba, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[1] != n_classes or n_classes < 2:
        raise ValueError(f"proba must have shape (n, {n_classes}) with n_classes >= 2, got {p.shape}")
    if y.ndim != 1 or y.shape[0] != p.shape[0]:
        raise ValueError(f"labels must have one class index per row of proba ({p.shape[0]}), got {y.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("proba holds NaN or infinite values")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_classes):
        raise ValueError(f"labels must be integer class indices within [0, {n_classes})")
    y = y.astype(np.int64)
    n = y.size
    rows = np.arange(n)
    given = p[rows, y] if n else np.zeros(0)
    other = p.copy()
    other[rows, y] = -np.inf
    suggested = other.argmax(axis=1).astype(np.int64) if n else np.zeros(0, dtype=np.int64)
    p_wrong = np.clip(1.0 - given, 0.0, 1.0)

    counts = np.bincount(y, minlength=n_classes)
    # 1. Per-class thresholds (a class nobody labeled can never be reached: +inf).
    thresholds = np.full(n_classes, np.inf)
    for c in np.flatnonzero(counts):
        thresholds[c] = p[y == c, c].mean()
    # 2. Confident joint.
    above = p >= thresholds[None, :] - 1e-12
    masked = np.where(above, p, -np.inf)
    true_class = masked.argmax(axis=1)
    counted = above.any(axis=1)
    joint = np.zeros((n_classes, n_classes))
    np.add.at(joint, (y[counted], true_class[counted]), 1.0)
    # 3. Calibrate rows to the number of samples carrying each label.
    row_sums = joint.sum(axis=1)
    scale = np.divide(counts, row_sums, out=np.zeros(n_classes), where=row_sums > 0)
    joint *= scale[:, None]
    off = joint.copy()
    np.fill_diagonal(off, 0.0)
    # 4. Lowest self-confidence within each label, as many as the estimate says.
    issue = np.zeros(n, dtype=bool)
    for i in range(n_classes):
        members = np.flatnonzero(y == i)
        k = int(np.rint(off[i].sum()))
        if members.size and k > 0:
            # Stable: among equal self-confidences the first samples go first (deterministic).
            issue[members[np.argsort(given[members], kind="stable")[:k]]] = True
    # 5. The model agrees with the person: not an issue. 6. The precision guard.
    if n:
        issue &= p.argmax(axis=1) != y
        issue &= given < chance_fraction / n_classes
    return LabelErrors(
        issue=issue,
        p_wrong=p_wrong,
        suggested=suggested,
        p_suggested=p[rows, suggested] if n else np.zeros(0),
        confident_joint=joint,
        n_estimated=float(off.sum()),
    )


LABEL_ERROR = 31
"""The ``hard_reasons`` code LabelArts gives a human label that is probably wrong (a LabelArts
extension: the reference's codes stop at 30)."""
LABEL_ERROR_NAME = "label_error"


def label_error_detail(given: str, suggested: str, p_given: float, p_suggested: float) -> dict[str, object]:
    """The ``hard_details`` entry (HardDetail: ``id``, ``alo_name``, ``reason``, ``suggestion``)
    of a labeled sample whose label ``given`` is probably wrong."""
    return {
        "id": LABEL_ERROR,
        "alo_name": LABEL_ERROR_NAME,
        "reason": (
            f"The label is probably wrong: a model that did not learn from this sample gives its label "
            f"'{given}' a calibrated probability of {p_given:.2f} and '{suggested}' {p_suggested:.2f}, "
            f"and confident learning (per-class self-confidence thresholds, pruned by the estimated "
            f"noise rate) counts it among the likely label errors."
        ),
        "suggestion": f"Check the label; the model suggests '{suggested}'.",
    }
