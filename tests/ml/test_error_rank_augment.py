"""The third signal of ``p_wrong``: disagreement under augmentation (labelarts/ml/error_rank.py).

Planted data where the answer is known: some samples' features are spoofed into the other class's
cluster (confident, and their neighbours agree), while their perturbed copies show the true class.
Only the copies can tell those auto labels are wrong.
"""

from __future__ import annotations

import numpy as np
import pytest

from labelarts.ml.error_rank import AUGMENT_CODES, estimate_p_wrong
from labelarts.ml.head import CalibratedHead
from labelarts.ml.pipeline import auto_label


def _spoofed(
    n: int = 300, share: float = 0.15, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Features X, true classes y, spoofed mask, and the clean features the copies show."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    clean = np.where(y[:, None] == 0, -2.0, 2.0) + rng.normal(0, 1, (2 * n, 6))
    spoofed = rng.random(2 * n) < share
    X = clean.copy()
    X[spoofed] = -clean[spoofed]  # in the other class's cluster
    return X, y, spoofed, clean


def _copies(
    X: np.ndarray, clean: np.ndarray, spoofed: np.ndarray, rows: np.ndarray, seed: int
) -> dict[int, np.ndarray]:
    """Copies near the sample's own features, or near the clean ones for a spoofed sample."""
    rng = np.random.default_rng(seed)
    base = np.where(spoofed[rows, None], clean[rows], X[rows])
    return {code: base + rng.normal(0, 0.3, base.shape) for code in (*AUGMENT_CODES, 29)}


def test_copies_that_disagree_mark_the_wrong_labels_and_their_weight_is_positive() -> None:
    X, y, spoofed, clean = _spoofed()
    rng = np.random.default_rng(1)
    lab = np.sort(np.concatenate([rng.choice(np.flatnonzero(y == c), 40, replace=False) for c in (0, 1)]))
    unl = np.setdiff1d(np.arange(y.size), lab)
    lab_rows, unl_rows = np.arange(lab.size), np.arange(unl.size)
    copies_lab = _copies(X[lab], clean[lab], spoofed[lab], lab_rows, 2)
    copies_unl = _copies(X[unl], clean[unl], spoofed[unl], unl_rows, 3)

    def augmented(idx: np.ndarray) -> dict[int, np.ndarray]:
        return {code: feats[idx] for code, feats in copies_unl.items()}

    def augmented_lab(idx: np.ndarray) -> dict[int, np.ndarray]:
        return {code: feats[idx] for code, feats in copies_lab.items()}

    plain = auto_label(X[lab], y[lab], X[unl], n_classes=2, seed=0)
    both = auto_label(
        X[lab],
        y[lab],
        X[unl],
        n_classes=2,
        augmented_features=augmented,
        augmented_labeled=augmented_lab,
        augment_budget=10_000,
        seed=0,
    )
    wrong = both.predicted != y[unl]
    assert np.array_equal(wrong, spoofed[unl])  # the spoofed are exactly the wrong auto labels
    assert both.estimates["error_augment_weight"] > 0
    assert both.estimates["n_augment_signal"] == unl.size
    # Confidence and neighbours cannot see these mistakes; the copies can.
    flagged = np.array([1 in r for r in both.hard.reasons])
    flagged_plain = np.array([1 in r for r in plain.hard.reasons])
    assert flagged[wrong].mean() >= 0.9
    assert wrong[flagged].mean() >= 0.8
    # Without them the same mistakes are found only by flagging most of the samples.
    assert wrong[flagged_plain].mean() < 0.3
    assert flagged.mean() < 0.5 * flagged_plain.mean()
    assert both.p_wrong[wrong].mean() > 0.5 > both.p_wrong[~wrong].mean()


def test_without_copies_of_labeled_samples_the_estimate_is_the_two_signal_one() -> None:
    X, y, spoofed, clean = _spoofed(seed=4)
    lab = np.r_[0:40, 300:340]
    unl = np.setdiff1d(np.arange(y.size), lab)
    copies_unl = _copies(X[unl], clean[unl], spoofed[unl], np.arange(unl.size), 5)
    plain = auto_label(X[lab], y[lab], X[unl], n_classes=2, seed=0)
    unlabeled_only = auto_label(
        X[lab],
        y[lab],
        X[unl],
        n_classes=2,
        augmented_features=lambda idx: {code: f[idx] for code, f in copies_unl.items()},
        augment_budget=50,
        seed=0,
    )
    assert np.array_equal(plain.p_wrong, unlabeled_only.p_wrong)
    assert "error_augment_weight" not in unlabeled_only.estimates
    # A budget of 0 checks nothing, whatever the callbacks.
    none = auto_label(
        X[lab],
        y[lab],
        X[unl],
        n_classes=2,
        augmented_features=lambda idx: {code: f[idx] for code, f in copies_unl.items()},
        augmented_labeled=lambda idx: {20: X[lab][idx]},
        augment_budget=0,
        seed=0,
    )
    assert np.array_equal(plain.p_wrong, none.p_wrong)


def _planted_estimate_inputs() -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(-3, 1, (200, 6)), rng.normal(3, 1, (200, 6))])
    y = np.repeat([0, 1], 200)
    lab = np.r_[0:20, 200:220]
    unl = np.setdiff1d(np.arange(y.size), lab)
    proba = np.where(np.eye(2)[y[unl]] == 1, 0.8, 0.2)
    oof_pred = y[lab].copy()
    oof_pred[::4] = 1 - oof_pred[::4]
    oof = np.where(np.eye(2)[oof_pred] == 1, 0.6, 0.4)
    return X[lab], y[lab], oof, X[unl], proba, oof_pred


def test_the_samples_without_copies_keep_the_two_signal_estimate() -> None:
    X_lab, y_lab, oof, X_unl, proba, oof_pred = _planted_estimate_inputs()
    base = estimate_p_wrong(X_lab, y_lab, oof, X_unl, proba)
    # Labeled copies agree with a right out-of-fold prediction and not with a wrong one.
    wrong_oof = oof_pred != y_lab
    lab_copy = np.where(np.eye(2)[oof_pred] == 1, np.where(wrong_oof, 0.2, 0.9)[:, None], 0.0)
    lab_copy[np.arange(y_lab.size), 1 - oof_pred] = 1.0 - lab_copy.max(axis=1)
    rows_unl = np.arange(0, X_unl.shape[0], 3)  # a third of the samples to label have copies
    unl_copy = np.tile([0.5, 0.5], (rows_unl.size, 1))
    est = estimate_p_wrong(
        X_lab,
        y_lab,
        oof,
        X_unl,
        proba,
        copies_labeled={20: (np.arange(y_lab.size), lab_copy)},
        copies_unlabeled={20: (rows_unl, unl_copy)},
    )
    assert est.augment_weights is not None and est.augment_weights[3] > 0
    without = np.setdiff1d(np.arange(X_unl.shape[0]), rows_unl)
    assert np.array_equal(est.p_wrong[without], base.p_wrong[without])
    assert np.isnan(est.augment_agreement[without]).all()
    assert np.allclose(est.augment_agreement[rows_unl], 0.5)
    # Codes outside AUGMENT_CODES (here invert, 29) are not part of the signal.
    ignored = estimate_p_wrong(
        X_lab,
        y_lab,
        oof,
        X_unl,
        proba,
        copies_labeled={29: (np.arange(y_lab.size), lab_copy)},
        copies_unlabeled={29: (rows_unl, unl_copy)},
    )
    assert ignored.augment_weights is None
    assert np.array_equal(ignored.p_wrong, base.p_wrong)
    with pytest.raises(ValueError, match="copies_unlabeled"):
        estimate_p_wrong(X_lab, y_lab, oof, X_unl, proba, copies_unlabeled={20: (rows_unl, unl_copy[:, :1])})


def test_out_of_fold_predictions_of_copies_come_from_the_fold_models() -> None:
    X, y, _, _ = _spoofed(n=60, share=0.0)
    head = CalibratedHead().fit(X, y, n_classes=2, X_unlabeled=X[:5], seed=0)
    # The labeled samples themselves, as "copies": exactly their out-of-fold probabilities.
    assert np.allclose(head.oof_predict_proba(X, np.arange(y.size)), head.oof_proba_)
    assert head.oof_predict_proba(X[:0], np.zeros(0, dtype=np.int64)).shape == (0, 2)
    with pytest.raises(ValueError):
        head.oof_predict_proba(X[:2], np.array([0, y.size]))
