"""auto_label end to end on generated data: the outcome contract, hard examples, progress, bad input."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

from labelarts.ml.error_rank import flag_by_error_mass
from labelarts.ml.pipeline import AutoLabelOutcome, auto_label


def _blobs(
    n_per_class: int, n_classes: int, *, spread: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0.0, spread, (n_classes, 6))
    X = np.vstack([rng.normal(centers[c], 1.0, (n_per_class, 6)) for c in range(n_classes)])
    return X, np.repeat(np.arange(n_classes), n_per_class)


def _split(y: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labeled = np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c in np.unique(y)])
    return labeled, np.setdiff1d(np.arange(y.size), labeled)


@pytest.fixture(scope="module")
def overlapping() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    X, y = _blobs(300, 3, spread=1.6, seed=1)
    lab, unl = _split(y, 20, seed=1)
    return X, y, lab, unl


@pytest.mark.parametrize("mode", ["fast", "accurate"])
def test_outcome_keeps_its_contract(
    overlapping: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], mode: str
) -> None:
    X, y, lab, unl = overlapping
    out = auto_label(X[lab], y[lab], X[unl], n_classes=3, mode=mode, target_precision=0.9)
    assert isinstance(out, AutoLabelOutcome)
    n = unl.size
    assert out.predicted.shape == out.confidence.shape == out.accepted.shape == (n,)
    assert out.proba.shape == (n, 3) and out.thresholds.shape == (3,)
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(out.predicted, out.proba.argmax(axis=1))
    np.testing.assert_allclose(out.confidence, out.proba.max(axis=1))
    np.testing.assert_array_equal(out.accepted, out.confidence >= out.thresholds[out.predicted])
    correct = out.predicted == y[unl]
    assert 0.7 < correct.mean() < 1.0
    # Accepted labels come near the 90% target, and not accepting everything.
    assert 0.05 < out.accepted.mean() < 1.0
    assert correct[out.accepted].mean() == pytest.approx(0.9, abs=0.05)
    # Reason 1 flags the most probably wrong labels until they hold 90% of the expected wrong
    # ones (never one estimated under 0.15), from the estimate the outcome reports.
    assert out.hard.hard.shape == out.p_wrong.shape == (n,)
    reason_1 = np.array([1 in r for r in out.hard.reasons])
    np.testing.assert_array_equal(reason_1, flag_by_error_mass(out.p_wrong))
    assert out.p_wrong[reason_1].min() > out.p_wrong[~reason_1].max() or out.p_wrong[~reason_1].max() < 0.15
    assert out.p_wrong[reason_1].sum() >= 0.9 * out.p_wrong.sum() - out.p_wrong[out.p_wrong < 0.15].sum()
    assert np.all((out.hard.coefficient >= 0) & (out.hard.coefficient <= 1))
    assert out.estimates["coverage"] == pytest.approx(out.accepted.mean())
    assert out.estimates["n_pseudo_labels"] == (n if mode == "accurate" else 0)


def test_flips_under_perturbation_become_hard_example_reasons() -> None:
    X, y = _blobs(100, 2, spread=8.0, seed=2)
    lab, unl = _split(y, 5, seed=2)
    asked: list[np.ndarray] = []
    far = X[lab][y[lab] == 1].mean(axis=0)  # a copy that looks like class 1

    def perturbed(indices: np.ndarray) -> Mapping[int, np.ndarray]:
        asked.append(indices)
        return {20: X[unl][indices], 29: np.repeat(far[None, :], indices.size, axis=0)}

    out = auto_label(X[lab], y[lab], X[unl], n_classes=2, augmented_features=perturbed, augment_budget=30)
    (indices,) = asked
    assert indices.size == 30 and np.unique(indices).size == 30
    # The least certain samples are the ones checked.
    margin = np.abs(out.proba[:, 1] - out.proba[:, 0])
    assert margin[indices].max() <= np.sort(margin)[29] + 1e-12
    flipped = indices[out.predicted[indices] == 0]  # class-0 samples whose "invert" copy reads as class 1
    assert flipped.size > 0
    assert all(29 in out.hard.reasons[i] and out.hard.hard[i] for i in flipped)
    assert not any(20 in r for r in out.hard.reasons)  # the unchanged copy never flips
    assert out.estimates["n_augmented_checked"] == 30


def test_image_statistics_reach_the_detector() -> None:
    X, y = _blobs(60, 2, spread=8.0, seed=3)
    lab, unl = _split(y, 10, seed=3)
    rng = np.random.default_rng(3)
    stats = np.column_stack(
        [
            np.full(y.size, 224.0),
            np.ones(y.size),
            rng.normal(120.0, 5.0, y.size),  # brightness
            rng.normal(100.0, 5.0, y.size),
            rng.normal(40.0, 3.0, y.size),
            rng.normal(500.0, 20.0, y.size),
        ]
    )
    stats[unl[0], 2] = 250.0  # far brighter than any labeled image
    out = auto_label(
        X[lab], y[lab], X[unl], n_classes=2, stats_labeled=stats[lab], stats_unlabeled=stats[unl]
    )
    assert 7 in out.hard.reasons[0] and out.hard.hard[0]
    assert out.hard.details(0)["7"]["id"] == 7


def test_progress_is_reported_and_can_stop_the_run() -> None:
    X, y = _blobs(50, 2, spread=5.0)
    lab, unl = _split(y, 5)
    seen: list[float] = []
    auto_label(X[lab], y[lab], X[unl], n_classes=2, progress=seen.append)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen) and len(seen) > 3

    class Stop(Exception):
        pass

    def stop_halfway(fraction: float) -> None:
        if fraction > 0.3:
            raise Stop

    with pytest.raises(Stop):
        auto_label(X[lab], y[lab], X[unl], n_classes=2, progress=stop_halfway)


def test_the_same_seed_gives_the_same_labels() -> None:
    X, y = _blobs(80, 3, spread=1.5, seed=5)
    lab, unl = _split(y, 5, seed=5)
    a = auto_label(X[lab], y[lab], X[unl], n_classes=3, mode="accurate", seed=3)
    b = auto_label(X[lab], y[lab], X[unl], n_classes=3, mode="accurate", seed=3)
    np.testing.assert_array_equal(a.proba, b.proba)
    np.testing.assert_array_equal(a.hard.hard, b.hard.hard)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "slow"}, "mode must be one of"),
        ({"target_precision": 1.0}, "target_precision"),
        ({"target_precision": 0.0}, "target_precision"),
        ({"augment_budget": -1}, "augment_budget"),
        ({"n_classes": 1}, "n_classes"),
        ({"X_unlabeled": np.zeros((0, 6))}, "nothing to label"),
        ({"X_unlabeled": np.zeros((4, 5))}, "features per sample"),
        ({"X_unlabeled": np.full((4, 6), np.nan)}, "NaN"),
        ({"y_labeled": np.zeros(10, dtype=int)}, "at least two classes"),
        ({"y_labeled": np.arange(3)}, "one label per sample"),
        ({"stats_labeled": np.zeros((3, 6))}, "stats_labeled must have one row per sample"),
        ({"stats_unlabeled": np.zeros(6)}, "stats_unlabeled must have one row per sample"),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, object], message: str) -> None:
    X, y = _blobs(20, 2, spread=5.0)
    lab, unl = _split(y, 5)
    args: dict[str, object] = {
        "X_labeled": X[lab],
        "y_labeled": y[lab],
        "X_unlabeled": X[unl],
        "n_classes": 2,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        auto_label(**args)  # type: ignore[arg-type]


def test_perturbed_features_of_the_wrong_shape_are_refused() -> None:
    X, y = _blobs(20, 2, spread=5.0)
    lab, unl = _split(y, 5)
    with pytest.raises(ValueError, match="augmented features for code 19"):
        auto_label(
            X[lab], y[lab], X[unl], n_classes=2, augmented_features=lambda idx: {19: np.zeros((idx.size, 3))}
        )
