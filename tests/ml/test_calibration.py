"""Calibration: ECE on scores with known truth, temperature fitting, precision thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import softmax

from labelarts.ml.calibration import (
    expected_calibration_error,
    fit_logit_weights,
    fit_temperature,
    precision_thresholds,
    softmax_with_temperature,
)


def _calibrated_scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Confidences with outcomes drawn at exactly those probabilities: calibrated by construction."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.1, 1.0, n)
    return confidence, rng.random(n) < confidence


def test_ece_of_perfectly_calibrated_scores_is_near_zero() -> None:
    confidence, correct = _calibrated_scores(50_000, seed=1)
    assert expected_calibration_error(confidence, correct) < 0.01


def test_ece_of_overconfident_scores_is_large() -> None:
    rng = np.random.default_rng(2)
    confidence = rng.uniform(0.8, 1.0, 20_000)
    correct = rng.random(20_000) < 0.5  # right half the time, claims 90%
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.4, abs=0.02)


def test_ece_by_hand() -> None:
    # Bin [0.8667, 0.9333): two samples at 0.9, one right -> |0.5 - 0.9| = 0.4, weight 2/4.
    # Bin [0.2667, 0.3333): two samples at 0.3, none right -> |0 - 0.3| = 0.3, weight 2/4.
    ece = expected_calibration_error(np.array([0.9, 0.9, 0.3, 0.3]), np.array([True, False, False, False]))
    assert ece == pytest.approx(0.5 * 0.4 + 0.5 * 0.3)


def test_ece_counts_confidence_one_in_the_last_bin() -> None:
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([1, 1])) == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("confidence", "correct", "message"),
    [
        (np.array([0.5, 0.6]), np.array([True]), "same length"),
        (np.array([[0.5]]), np.array([True]), "1-d"),
        (np.array([1.5]), np.array([True]), "within"),
        (np.array([np.nan]), np.array([True]), "finite"),
        (np.array([]), np.array([]), "at least one"),
    ],
)
def test_ece_rejects_bad_input(confidence: np.ndarray, correct: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_calibration_error(confidence, correct)


def _draw_labels(true_logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    p = softmax(true_logits, axis=1)
    return (p.cumsum(axis=1) > rng.random((p.shape[0], 1))).argmax(axis=1)


@pytest.mark.parametrize("true_temperature", [0.5, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_temperature: float) -> None:
    rng = np.random.default_rng(3)
    true_logits = rng.normal(0.0, 2.0, (6000, 5))
    y = _draw_labels(true_logits, rng)
    # The model reports logits `true_temperature` times too large (or small).
    fitted = fit_temperature(true_logits * true_temperature, y)
    assert fitted == pytest.approx(true_temperature, rel=0.1)
    calibrated = softmax_with_temperature(true_logits * true_temperature, fitted)
    hit = calibrated.argmax(axis=1) == y
    assert expected_calibration_error(calibrated.max(axis=1), hit) < 0.03


def test_fit_logit_weights_recovers_two_sources_and_ignores_noise() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(0.0, 2.0, (6000, 4))
    b = rng.normal(0.0, 2.0, (6000, 4))
    noise = rng.normal(0.0, 2.0, (6000, 4))
    y = _draw_labels(0.5 * a + 1.5 * b, rng)
    weights = fit_logit_weights([a, b, noise], y)
    assert weights[0] == pytest.approx(0.5, abs=0.1)
    assert weights[1] == pytest.approx(1.5, abs=0.15)
    assert weights[2] < 0.1


def test_fit_temperature_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="logits must be"):
        fit_temperature(np.zeros((3, 2)), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="finite"):
        fit_temperature(np.full((2, 2), np.nan), np.zeros(2, dtype=int))


@pytest.mark.parametrize("target", [0.8, 0.95])
def test_thresholds_reach_the_target_precision_on_calibrated_scores(target: float) -> None:
    rng = np.random.default_rng(5)
    n, n_classes = 20_000, 4
    # Classes differ in how confident they are, so one global threshold would not fit all.
    predicted = rng.integers(0, n_classes, n)
    confidence = rng.beta(1.0 + 0.7 * predicted, 1.0)  # mean 0.5 to 0.76
    correct = rng.random(n) < confidence
    thresholds = precision_thresholds(confidence, predicted, n_classes=n_classes, target_precision=target)
    accepted = confidence >= thresholds[predicted]
    assert correct[accepted].mean() == pytest.approx(target, abs=0.02)
    for c in range(n_classes):  # each class on its own, too
        mine = accepted & (predicted == c)
        if mine.sum() < (predicted == c).sum():
            assert correct[mine].mean() == pytest.approx(target, abs=0.03)
        else:  # a class confident enough to accept whole is above the target
            assert correct[mine].mean() >= target - 0.02
    # A stricter target accepts a subset.
    stricter = precision_thresholds(
        confidence, predicted, n_classes=n_classes, target_precision=target + 0.04
    )
    assert np.all(stricter >= thresholds)


def test_thresholds_shrink_a_rare_class_toward_the_global_threshold() -> None:
    rng = np.random.default_rng(6)
    confidence = np.concatenate([rng.uniform(0.5, 1.0, 5000), [0.99, 0.98]])
    predicted = np.concatenate([np.zeros(5000, dtype=int), [1, 1]])
    thresholds = precision_thresholds(confidence, predicted, n_classes=3, target_precision=0.9)
    # Class 1's own two samples would allow 0.98; with two samples it stays near the global cut-off.
    assert abs(thresholds[1] - thresholds[0]) < abs(0.98 - thresholds[0]) / 2
    # No samples predicted: the global threshold, which the big class 0 all but sets alone.
    assert thresholds[2] == pytest.approx(thresholds[0], abs=1e-3)


def test_thresholds_when_no_prefix_reaches_the_target_accept_nothing_uncertain() -> None:
    thresholds = precision_thresholds(
        np.array([0.5, 0.6]), np.array([0, 1]), n_classes=2, target_precision=0.95
    )
    assert np.all(thresholds == 1.0)


def test_thresholds_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="target_precision"):
        precision_thresholds(np.array([0.5]), np.array([0]), n_classes=2, target_precision=1.0)
    with pytest.raises(ValueError, match="predicted classes"):
        precision_thresholds(np.array([0.5]), np.array([2]), n_classes=2, target_precision=0.9)
