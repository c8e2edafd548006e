"""Confident learning on planted label flips: the flipped labels are found, clean data stays quiet."""

from __future__ import annotations

import numpy as np
import pytest

from labelarts.ml.label_errors import LABEL_ERROR, find_label_errors, label_error_detail
from labelarts.ml.pipeline import check_human_labels

N_CLASSES = 4
DIM = 8


def _clusters(per_class: int, seed: int, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Separable clusters: class c around 6 * e_c."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(N_CLASSES), per_class)
    centres = np.zeros((N_CLASSES, DIM))
    centres[np.arange(N_CLASSES), np.arange(N_CLASSES)] = 6.0
    return centres[y] + rng.normal(scale=spread, size=(y.size, DIM)), y


def _flip(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    flipped = rng.choice(y.size, size=round(share * y.size), replace=False)
    noisy = y.copy()
    noisy[flipped] = (noisy[flipped] + rng.integers(1, N_CLASSES, flipped.size)) % N_CLASSES
    return noisy, np.sort(flipped)


@pytest.mark.parametrize("share", [0.05, 0.10])
def test_planted_flips_on_separable_clusters_are_found_and_nothing_else(share: float) -> None:
    X, y = _clusters(50, seed=1, spread=0.5)
    noisy, flipped = _flip(y, share, seed=2)
    errors = check_human_labels(X, noisy, n_classes=N_CLASSES)
    found = np.flatnonzero(errors.issue)
    # Every flag is a planted flip, and at least 90% of the flips are flagged (confident learning
    # counts from per-class thresholds; a flip whose true class gets less than that class's
    # average self-confidence may be missed: one of 20 here at 10%).
    assert set(found) <= set(flipped)
    assert found.size >= 0.9 * flipped.size
    if share == 0.05:
        assert list(found) == list(flipped)
    # The suggestion is the true class, and the estimate is close to the number planted.
    assert list(errors.suggested[found]) == list(y[found])
    assert abs(errors.n_estimated - flipped.size) <= 2
    assert np.all(errors.p_wrong[flipped] > 0.5)


def test_clean_labels_give_no_flags() -> None:
    X, y = _clusters(40, seed=3)
    errors = check_human_labels(X, y, n_classes=N_CLASSES)
    assert not errors.issue.any()
    assert errors.n_estimated < 1.0


def test_the_rule_on_given_probabilities() -> None:
    # Three classes, five samples each, perfectly predicted except sample 2 (labeled 0, clearly
    # class 1) and sample 7 (labeled 1, unsure between 1 and 2: its label is kept).
    labels = np.repeat(np.arange(3), 5)
    proba = np.full((15, 3), 0.05)
    proba[np.arange(15), labels] = 0.9
    proba[2] = [0.05, 0.9, 0.05]
    proba[7] = [0.05, 0.5, 0.45]
    errors = find_label_errors(proba, labels, n_classes=3)
    assert list(np.flatnonzero(errors.issue)) == [2]
    assert errors.suggested[2] == 1 and errors.p_suggested[2] == pytest.approx(0.9)
    assert errors.p_wrong[2] == pytest.approx(0.95)
    # The calibrated joint: row sums are the label counts; one sample of label 0 is really class 1.
    assert errors.confident_joint.sum(axis=1) == pytest.approx([5, 5, 5])
    assert errors.confident_joint[0, 1] == pytest.approx(1.0)
    assert errors.n_estimated == pytest.approx(1.0)


def test_the_model_agreeing_with_the_label_is_never_a_flag() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.55, 0.45], [0.1, 0.9], [0.1, 0.9], [0.2, 0.8]])
    errors = find_label_errors(proba, labels, n_classes=2)
    assert not errors.issue.any()


@pytest.mark.parametrize(
    ("proba", "labels"),
    [
        (np.full((3, 2), 0.5), np.array([0, 1])),  # one label short
        (np.full((2, 3), 1 / 3), np.array([0, 1])),  # three columns for two classes
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), np.array([0, 1])),
        (np.full((2, 2), 0.5), np.array([0, 2])),  # class index out of range
        (np.full((2, 2), 0.5), np.array([0.0, 1.0])),  # not integers
    ],
)
def test_bad_input_is_a_value_error(proba: np.ndarray, labels: np.ndarray) -> None:
    with pytest.raises(ValueError):
        find_label_errors(proba, labels, n_classes=2)


def test_the_detail_names_both_labels() -> None:
    detail = label_error_detail("dog", "cat", 0.04, 0.91)
    assert detail["id"] == LABEL_ERROR == 31
    assert "'dog'" in str(detail["reason"]) and "0.04" in str(detail["reason"])
    assert "'cat'" in str(detail["suggestion"])
