"""Which auto labels are probably wrong (labelarts/ml/error_rank.py): planted mistakes, known answers."""

from __future__ import annotations

import numpy as np
import pytest

from labelarts.ml.error_rank import MIN_P_WRONG, estimate_p_wrong, flag_by_error_mass
from labelarts.ml.pipeline import auto_label


def _two_clusters(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.concatenate([rng.normal(-3, 1, (n, 6)), rng.normal(3, 1, (n, 6))])
    return X, np.repeat([0, 1], n)


def test_error_mass_rule_on_known_probabilities() -> None:
    p = np.array([0.9, 0.8, 0.05, 0.6, 0.05, 0.05])
    # Expected errors 2.45; 90% of it is 2.205: 0.9 + 0.8 + 0.6 = 2.3 reaches it.
    assert flag_by_error_mass(p).tolist() == [True, True, False, True, False, False]
    # Under the floor: never flagged, however much of the mass it holds.
    thin = np.full(100, 0.02)
    assert not flag_by_error_mass(thin).any()
    assert flag_by_error_mass(thin, min_p_wrong=0.0).sum() == 90
    assert not flag_by_error_mass(np.zeros(5)).any()
    with pytest.raises(ValueError):
        flag_by_error_mass(p, recall=0.0)


def test_disagreeing_neighbours_raise_the_estimate_at_equal_confidence() -> None:
    X, y = _two_clusters()
    lab = np.r_[0:20, 200:220]
    unl = np.setdiff1d(np.arange(y.size), lab)
    # Every unlabeled sample predicted right at confidence 0.8, except 20 planted wrong predictions
    # at the same confidence: only the neighbours can tell them apart.
    predicted = y[unl].copy()
    planted = np.arange(0, unl.size, unl.size // 20)[:20]
    predicted[planted] = 1 - predicted[planted]
    proba = np.where(np.eye(2)[predicted] == 1, 0.8, 0.2)
    # Out-of-fold: 30 right, 10 wrong (confidence 0.6 each), so the combination can be fitted.
    oof_pred = y[lab].copy()
    oof_pred[::4] = 1 - oof_pred[::4]
    oof = np.where(np.eye(2)[oof_pred] == 1, 0.6, 0.4)
    est = estimate_p_wrong(X[lab], y[lab], oof, X[unl], proba)
    wrong = np.zeros(unl.size, dtype=bool)
    wrong[planted] = True
    assert est.p_wrong[wrong].min() > est.p_wrong[~wrong].max()
    assert est.agreement[wrong].max() < 0.5 < est.agreement[~wrong].min()
    assert np.all((est.p_wrong >= 0) & (est.p_wrong <= 1))


def test_without_out_of_fold_errors_the_estimate_is_one_minus_confidence() -> None:
    X, y = _two_clusters()
    lab = np.r_[0:20, 200:220]
    unl = np.setdiff1d(np.arange(y.size), lab)
    oof = np.eye(2)[y[lab]] * 0.9 + 0.05
    proba = np.tile([0.7, 0.3], (unl.size, 1))
    est = estimate_p_wrong(X[lab], y[lab], oof, X[unl], proba)
    assert est.weights == (0.0, 1.0, 0.0)
    assert np.allclose(est.p_wrong, 0.3)


def test_auto_label_flags_the_mistakes_of_an_overlapping_problem() -> None:
    """Two overlapping classes: the auto labels that are wrong are the flagged ones, mostly."""
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(-0.6, 1, (600, 4)), rng.normal(0.6, 1, (600, 4))])
    y = np.repeat([0, 1], 600)
    lab = np.r_[0:40, 600:640]
    unl = np.setdiff1d(np.arange(y.size), lab)
    out = auto_label(X[lab], y[lab], X[unl], n_classes=2, seed=0)
    wrong = out.predicted != y[unl]
    assert 0.05 < wrong.mean() < 0.3
    flagged = np.array([1 in r for r in out.hard.reasons])
    assert flagged[wrong].mean() >= 0.8
    assert wrong[flagged].mean() >= 2 * wrong.mean()
    assert np.all(out.p_wrong[flagged] >= MIN_P_WRONG)
    assert out.estimates["expected_wrong"] == pytest.approx(out.p_wrong.sum())
