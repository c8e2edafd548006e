"""The calibrated head: accuracy and calibration on generated data, the accurate mode, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_moons

from labelarts.ml.calibration import expected_calibration_error
from labelarts.ml.head import CalibratedHead
from labelarts.ml.semi import SpreadingGraph


def _blobs(
    n_per_class: int, n_classes: int, *, spread: float, dim: int = 8, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, spread, (n_classes, dim))
    X = np.vstack([rng.normal(centers[c], 1.0, (n_per_class, dim)) for c in range(n_classes)])
    return X, np.repeat(np.arange(n_classes), n_per_class)


def _split(y: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k labeled samples per class, the rest unlabeled."""
    rng = np.random.default_rng(seed)
    labeled = np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c in np.unique(y)])
    return labeled, np.setdiff1d(np.arange(y.size), labeled)


def test_separable_blobs_are_labeled_right_with_high_confidence() -> None:
    X, y = _blobs(200, 3, spread=10.0)
    lab, unl = _split(y, 5, seed=0)
    head = CalibratedHead().fit(X[lab], y[lab], n_classes=3, X_unlabeled=X[unl])
    proba = head.predict_proba(X[unl])
    assert proba.shape == (unl.size, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.all(proba.argmax(axis=1) == y[unl])
    assert proba.max(axis=1).mean() > 0.95
    thresholds = head.thresholds(0.95)
    assert (proba.max(axis=1) >= thresholds[proba.argmax(axis=1)]).mean() > 0.9


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confidence_on_overlapping_classes_is_calibrated(seed: int) -> None:
    X, y = _blobs(500, 4, spread=1.0, seed=seed)
    lab, unl = _split(y, 40, seed=seed)
    head = CalibratedHead().fit(X[lab], y[lab], n_classes=4, X_unlabeled=X[unl], seed=seed)
    proba = head.predict_proba(X[unl])
    correct = proba.argmax(axis=1) == y[unl]
    assert 0.6 < correct.mean() < 0.97  # the case is neither trivial nor hopeless
    assert expected_calibration_error(proba.max(axis=1), correct) < 0.06
    # The thresholds keep the accepted labels near the 90% target.
    thresholds = head.thresholds(0.9)
    accepted = proba.max(axis=1) >= thresholds[proba.argmax(axis=1)]
    assert accepted.mean() > 0.1
    assert correct[accepted].mean() == pytest.approx(0.9, abs=0.05)


def test_accurate_mode_uses_the_unlabeled_structure() -> None:
    X, y = make_moons(1000, noise=0.1, random_state=0)
    lab, unl = _split(y, 5, seed=0)
    fast = CalibratedHead().fit(X[lab], y[lab], n_classes=2, X_unlabeled=X[unl], mode="fast")
    accurate = CalibratedHead().fit(X[lab], y[lab], n_classes=2, X_unlabeled=X[unl], mode="accurate")
    fast_acc = np.mean(fast.predict_proba(X[unl]).argmax(axis=1) == y[unl])
    accurate_acc = np.mean(accurate.predict_proba(X[unl]).argmax(axis=1) == y[unl])
    assert accurate_acc >= fast_acc + 0.05
    assert accurate_acc > 0.93
    assert accurate.n_pseudo_labels_ == unl.size


def test_accurate_mode_predicts_new_samples_too() -> None:
    X, y = _blobs(150, 3, spread=6.0, seed=3)
    lab, unl = _split(y, 5, seed=3)
    head = CalibratedHead().fit(X[lab], y[lab], n_classes=3, X_unlabeled=X[unl[:300]], mode="accurate")
    unseen = unl[300:]  # never part of the graph
    assert np.mean(head.predict_proba(X[unseen]).argmax(axis=1) == y[unseen]) > 0.95


def test_a_class_without_labeled_samples_gets_probability_zero() -> None:
    X, y = _blobs(100, 3, spread=6.0)
    lab, unl = _split(y, 5, seed=0)
    for mode in ("fast", "accurate"):
        head = CalibratedHead().fit(X[lab], y[lab], n_classes=5, X_unlabeled=X[unl], mode=mode)
        proba = head.predict_proba(X[unl])
        assert proba.shape == (unl.size, 5)
        assert np.all(proba[:, 3:] == 0.0)
        assert head.thresholds(0.95).shape == (5,)


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_the_same_seed_gives_the_same_result(mode: str) -> None:
    X, y = _blobs(100, 3, spread=1.5, seed=4)
    lab, unl = _split(y, 5, seed=4)
    runs = [
        CalibratedHead()
        .fit(X[lab], y[lab], n_classes=3, X_unlabeled=X[unl], mode=mode, seed=7)
        .predict_proba(X[unl])
        for _ in range(2)
    ]
    np.testing.assert_array_equal(runs[0], runs[1])


def _with_nan_row(X: np.ndarray) -> np.ndarray:
    bad = X.copy()
    bad[3, 1] = np.nan
    return bad


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, y, U: (X, np.zeros_like(y), U), "at least two classes"),
        (lambda X, y, U: (_with_nan_row(X), y, U), "NaN"),
        (lambda X, y, U: (X, y, _with_nan_row(U)), "X_unlabeled has 1 rows with NaN"),
        (lambda X, y, U: (X, y[:-1], U), "one label per sample"),
        (lambda X, y, U: (X, y, U[:, :-1]), "features per sample"),
        (lambda X, y, U: (X[:, 0], y, U), "2-d"),
        (lambda X, y, U: (X, y + 10, U), "class indices within"),
        (lambda X, y, U: (X, y.astype(float) + 0.5, U), "integer class indices"),
        (lambda X, y, U: (X[[0, 1, 2, 3, 5]], np.array([0, 0, 1, 1, 2]), U), "at least two samples"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(change: object, message: str) -> None:
    X, y = _blobs(20, 3, spread=5.0)
    lab, unl = _split(y, 5, seed=0)
    X_lab, y_lab, X_unl = change(X[lab], y[lab], X[unl])  # type: ignore[operator]
    with pytest.raises(ValueError, match=message):
        CalibratedHead().fit(X_lab, y_lab, n_classes=3, X_unlabeled=X_unl)


def test_bad_mode_and_missing_unlabeled_are_refused() -> None:
    X, y = _blobs(20, 3, spread=5.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        CalibratedHead().fit(X, y, n_classes=3, mode="slow")
    with pytest.raises(ValueError, match="accurate mode needs unlabeled"):
        CalibratedHead().fit(X, y, n_classes=3, mode="accurate")
    with pytest.raises(ValueError, match="n_classes"):
        CalibratedHead().fit(X, y, n_classes=1)


def test_predicting_before_fit_or_with_the_wrong_width_fails() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        CalibratedHead().predict_proba(np.zeros((2, 3)))
    X, y = _blobs(20, 3, spread=5.0)
    head = CalibratedHead().fit(X, y, n_classes=3)
    with pytest.raises(ValueError, match="features per sample"):
        head.predict_proba(np.zeros((2, 3)))


def test_spreading_graph_is_sparse_and_spreads_along_clusters() -> None:
    rng = np.random.default_rng(8)
    # Two elongated clusters; one labeled sample at one end of each.
    t = rng.uniform(0.0, 10.0, 400)
    a = np.column_stack([t, rng.normal(0.0, 0.2, 400)])
    b = np.column_stack([t, rng.normal(3.0, 0.2, 400)])
    X = np.vstack([a, b])
    seeds = np.array([int(np.argmin(t)), 400 + int(np.argmax(t))])
    graph = SpreadingGraph(X, n_neighbors=8)
    assert graph.affinity.shape == (800, 800)
    assert graph.affinity.nnz <= 2 * 800 * 8
    scores = graph.spread(seeds, np.array([0, 1]), n_classes=2, alpha=0.99, n_iter=200)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0)
    assert np.all(scores[:400].argmax(axis=1) == 0) and np.all(scores[400:].argmax(axis=1) == 1)
    # New points take their nearest nodes' scores; nodes extended by index agree with by value.
    new = graph.extend(scores, np.array([[5.0, 0.0], [5.0, 3.0]]))
    assert new.argmax(axis=1).tolist() == [0, 1]
    np.testing.assert_allclose(graph.extend_nodes(scores, np.arange(5)), graph.extend(scores, X[:5]))


def test_label_spreading_rejects_bad_input() -> None:
    graph = SpreadingGraph(np.random.default_rng(0).normal(size=(20, 3)), n_neighbors=3)
    with pytest.raises(ValueError, match="same length"):
        graph.spread(np.array([0, 1]), np.array([0]), n_classes=2)
    with pytest.raises(ValueError, match="alpha"):
        graph.spread(np.array([0]), np.array([0]), n_classes=2, alpha=1.0)
    with pytest.raises(ValueError, match="at least 2 rows"):
        SpreadingGraph(np.zeros((1, 3)))
