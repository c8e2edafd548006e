"""Which samples to label next (labelarts/ml/selection.py), on generated data with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from labelarts.ml.selection import propose, typical_samples, uncertain_diverse_samples


def _blobs(
    sizes: list[int], dim: int = 8, spread: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Separable Gaussian clusters of the given sizes, centres far apart along the axes."""
    rng = np.random.default_rng(seed)
    centres = 10.0 * np.eye(len(sizes), dim)
    X = np.concatenate([centres[c] + spread * rng.standard_normal((n, dim)) for c, n in enumerate(sizes)])
    y = np.concatenate([np.full(n, c) for c, n in enumerate(sizes)])
    return X, y


def test_typical_samples_cover_every_cluster_largest_first() -> None:
    X, y = _blobs([200, 120, 60, 30])
    picked = typical_samples(X, 4, seed=0)
    # One sample per cluster, in the order of the cluster sizes.
    assert list(y[picked]) == [0, 1, 2, 3]


def test_typical_sample_is_from_the_dense_core_not_the_halo() -> None:
    rng = np.random.default_rng(0)
    dim = 8
    parts, core = [], []
    for c in range(2):
        centre = 10.0 * np.eye(2, dim)[c]
        parts.append(centre + 0.05 * rng.standard_normal((100, dim)))  # dense core
        parts.append(centre + 1.0 * rng.standard_normal((100, dim)))  # sparse halo, same centre
        core.extend([True] * 100 + [False] * 100)
    X = np.concatenate(parts)
    picked = typical_samples(X, 2, seed=0)
    assert np.array(core)[picked].all()
    assert sorted((picked // 200).tolist()) == [0, 1]


def test_labeled_clusters_are_covered_so_the_next_labels_go_elsewhere() -> None:
    X, y = _blobs([200, 150, 100])
    labeled = np.flatnonzero(y == 0)[:3]
    picked = typical_samples(X, 2, labeled=labeled, seed=0)
    assert set(y[picked]) == {1, 2}
    assert not set(picked) & set(labeled)


def test_budget_beyond_the_clusters_revisits_them_and_never_repeats() -> None:
    X, y = _blobs([40, 40, 40])
    picked = typical_samples(X, 30, seed=0)
    assert len(set(picked.tolist())) == 30
    assert set(np.bincount(y[picked], minlength=3)) <= set(range(8, 13))
    assert typical_samples(X, 500, seed=0).size == X.shape[0]


def test_uncertain_diverse_takes_the_confused_samples_from_each_confusion() -> None:
    X, y = _blobs([100, 100, 100, 100])
    # Clusters 0 and 1 hold the least certain samples; within each cluster uncertainty varies a little.
    rng = np.random.default_rng(1)
    margin = np.where(y < 2, 0.05, 0.9) + 0.01 * rng.random(y.size)
    p_top = (1 + margin) / 2
    proba = np.stack([p_top, 1 - p_top], axis=1)
    picked = uncertain_diverse_samples(X, proba, 2, seed=0)
    # Both from the uncertain clusters, one from each (not two near-duplicates of one).
    assert sorted(y[picked].tolist()) == [0, 1]
    # The least certain of the two comes first.
    assert margin[picked[0]] <= margin[picked[1]]


def test_pure_margin_would_repeat_one_cluster_diversity_does_not() -> None:
    X, y = _blobs([20, 20, 100])
    margin = np.choose(y, [0.01, 0.02, 0.9]) + 0.001 * np.arange(y.size) / y.size
    p_top = (1 + margin) / 2
    proba = np.stack([p_top, 1 - p_top], axis=1)
    assert set(y[np.argsort(margin)[:3]]) == {0}
    picked = uncertain_diverse_samples(X, proba, 3, seed=0)
    assert set(y[picked].tolist()) == {0, 1}


def test_propose_picks_the_rule_by_what_is_known() -> None:
    X, y = _blobs([200, 150, 100])
    cold = propose(X, 3, seed=0)
    assert sorted(y[cold].tolist()) == [0, 1, 2]
    # Labeled samples given apart: indices stay indices into X_unlabeled.
    lab = np.flatnonzero(y == 0)[:5]
    rest = np.setdiff1d(np.arange(y.size), lab)
    warm = propose(X[rest], 2, X_labeled=X[lab], seed=0)
    assert set(y[rest][warm]) == {1, 2}
    proba = np.full((rest.size, 3), 1 / 3)
    assert propose(X[rest], 2, X_labeled=X[lab], proba=proba, seed=0).size == 2


def test_deterministic_for_a_seed_and_bad_input_refused() -> None:
    X, _ = _blobs([50, 50])
    assert np.array_equal(typical_samples(X, 5, seed=3), typical_samples(X, 5, seed=3))
    assert typical_samples(X, 0).size == 0
    with pytest.raises(ValueError):
        typical_samples(np.full((3, 2), np.nan), 1)
    with pytest.raises(ValueError):
        typical_samples(X, 1, labeled=np.array([1000]))
    with pytest.raises(ValueError):
        uncertain_diverse_samples(X, np.ones((3, 2)), 1)
