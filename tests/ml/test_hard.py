"""Hard-example rules on crafted inputs: each fires where it should and stays quiet close by."""

from __future__ import annotations

import numpy as np
import pytest

from labelarts.ml.hard import REASONS, HardExampleDetector, HardExamples
from labelarts.ml.image_stats import STAT_NAMES, STAT_REASONS

N_CLASSES = 3
DIM = 12
PER_CLASS = 20
THRESHOLDS = np.full(N_CLASSES, 0.9)


def _centre(c: int) -> np.ndarray:
    centre = np.zeros(DIM)
    centre[c] = 10.0
    return centre


def _training(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three tight, well separated classes: class c sits around 10 * e_c."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(N_CLASSES), PER_CLASS)
    x = np.stack([_centre(int(c)) for c in y]) + rng.normal(scale=0.5, size=(len(y), DIM))
    return x, y


def _typical(n_per_class: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Fresh samples drawn like the training data, with their classes."""
    return _training(seed)[0][: n_per_class * N_CLASSES], np.repeat(np.arange(N_CLASSES), PER_CLASS)[
        : n_per_class * N_CLASSES
    ]


def _confident(classes: np.ndarray, confidence: float = 0.98) -> np.ndarray:
    proba = np.full((len(classes), N_CLASSES), (1.0 - confidence) / (N_CLASSES - 1))
    proba[np.arange(len(classes)), classes] = confidence
    return proba


def _detector(stats_train: np.ndarray | None = None) -> HardExampleDetector:
    x, y = _training()
    return HardExampleDetector().fit(x, y, n_classes=N_CLASSES, stats_train=stats_train)


def _batch_with(
    sample: np.ndarray, predicted: int, confidence: float = 0.98
) -> tuple[np.ndarray, np.ndarray]:
    """The crafted sample first, followed by typical confident samples (a realistic batch to label)."""
    x_typ, y_typ = _typical(PER_CLASS)
    x = np.vstack([sample[None, :], x_typ])
    proba = _confident(np.concatenate([[predicted], y_typ]))
    proba[0] = _confident(np.array([predicted]), confidence)[0]
    return x, proba


def _reasons_of_first(sample: np.ndarray, predicted: int) -> list[int]:
    x, proba = _batch_with(sample, predicted)
    return _detector().detect(x, proba, thresholds=THRESHOLDS).reasons[0]


def test_confident_typical_samples_have_no_reasons() -> None:
    x, y = _typical(PER_CLASS)
    result = _detector().detect(x, _confident(y), thresholds=THRESHOLDS)
    assert result.reasons == [[] for _ in range(len(x))]
    assert not result.hard.any()
    # Without reasons the coefficient is the calibrated chance of a wrong label, 1 - confidence.
    assert np.allclose(result.coefficient, 0.02)


# Rule 1: low confidence.


def test_low_confidence_fires_below_the_threshold_of_the_predicted_class() -> None:
    x, y = _typical(2)
    proba = _confident(y, 0.95)
    proba[0] = [0.6, 0.3, 0.1]  # class 0 at 0.6, under its 0.9 threshold
    proba[1] = [0.85, 0.1, 0.05]  # 0.85 is accepted by class 0's own threshold of 0.8
    thresholds = np.array([0.8, 0.9, 0.9])
    result = _detector().detect(x, proba, thresholds=thresholds)
    assert result.reasons[0] == [1]
    assert result.reasons[1] == []
    assert result.hard[0] and not result.hard[1]


def test_low_confidence_keeps_to_the_samples_holding_most_expected_errors() -> None:
    # Ten samples at 0.4 hold 6.0 expected errors; one at 0.85 holds 0.15 (2.4% of the total). Both are
    # under the 0.9 threshold, but only the ten fall within the 90% of expected errors.
    x, y = _typical(4)
    x = x[:11]
    confidence = np.array([0.4] * 10 + [0.85])
    proba = _confident(y[:11], 0.5)
    proba[np.arange(11), y[:11]] = confidence
    rest = (1.0 - confidence) / (N_CLASSES - 1)
    for i in range(11):
        proba[i, [c for c in range(N_CLASSES) if c != y[i]]] = rest[i]
    result = _detector().detect(x, proba, thresholds=THRESHOLDS)
    assert [1 in r for r in result.reasons] == [True] * 10 + [False]
    uncapped = HardExampleDetector(low_confidence_mass=1.0).fit(*_training(), n_classes=N_CLASSES)
    assert all(1 in r for r in uncapped.detect(x, proba, thresholds=THRESHOLDS).reasons)


@pytest.mark.parametrize("mass", [0.0, -0.1, 1.5])
def test_bad_low_confidence_mass(mass: float) -> None:
    with pytest.raises(ValueError, match="low_confidence_mass"):
        HardExampleDetector(low_confidence_mass=mass)


# Rule 2: disagrees with its cluster.


def test_cluster_rule_fires_inside_another_class() -> None:
    inside_class_1 = _centre(1) + 0.1
    assert 2 in _reasons_of_first(inside_class_1, predicted=0)


def test_cluster_rule_quiet_when_neighbours_agree() -> None:
    assert 2 not in _reasons_of_first(_centre(1) + 0.1, predicted=1)


def test_cluster_rule_needs_a_majority() -> None:
    # Labeled samples: two of class 0 and three of class 1 around the query; 3 of 5 outvote the prediction 0.
    x = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0], [0.05, 1.0], [-1.0, -1.0]])
    y = np.array([0, 0, 1, 1, 1, 2])
    detector = HardExampleDetector().fit(x, y, n_classes=3)
    query = np.array([[0.5, 0.6], [0.6, 0.5]])
    proba = np.array([[0.98, 0.01, 0.01], [0.98, 0.01, 0.01]])
    result = detector.detect(query, proba, thresholds=np.full(3, 0.5))
    # Both queries' 5 nearest labeled samples are the two class-0 and three class-1 ones.
    assert 2 in result.reasons[0]
    assert 2 in result.reasons[1]
    # Predicting class 1 agrees with the majority.
    result = detector.detect(query, proba[:, [1, 0, 2]], thresholds=np.full(3, 0.5))
    assert all(2 not in r for r in result.reasons)
    # Votes split 2-2-1 (no label has more than half): no disagreement, whatever the prediction.
    split = HardExampleDetector().fit(x[[0, 1, 2, 3, 5]], y[[0, 1, 2, 3, 5]], n_classes=3)
    for predicted in range(3):
        proba = np.full((2, 3), 0.01)
        proba[:, predicted] = 0.98
        assert all(2 not in r for r in split.detect(query, proba, thresholds=np.full(3, 0.5)).reasons)


# Rule 3: unlike the training data of its predicted class.


def test_unlike_class_fires_far_from_the_predicted_class() -> None:
    # Towards class 0 but far off in a direction no labeled sample goes (45 degrees away).
    far = _centre(0) + 10.0 * np.eye(DIM)[5]
    reasons = _reasons_of_first(far, predicted=0)
    assert 3 in reasons
    assert 2 not in reasons  # its nearest labeled samples are still class 0


def test_unlike_class_quiet_for_a_typical_member() -> None:
    member = _centre(0) + np.random.default_rng(5).normal(scale=0.5, size=DIM)
    assert 3 not in _reasons_of_first(member, predicted=0)


def test_unlike_class_with_single_sample_classes() -> None:
    x, y = _training()
    x = np.vstack([x, _centre(0) * -1.0])
    y = np.concatenate([y, [3]])  # class 3 has one labeled sample: it borrows the other classes' spread
    detector = HardExampleDetector().fit(x, y, n_classes=4)
    query = np.vstack([_centre(0) * -1.0 + 0.1, _centre(0) * -1.0 + 10.0 * np.eye(DIM)[7]])
    proba = np.full((2, 4), 0.01)
    proba[:, 3] = 0.97
    result = detector.detect(query, proba, thresholds=np.full(4, 0.9))
    assert 3 not in result.reasons[0]
    assert 3 in result.reasons[1]


# Rule 30: outlier.


def test_outlier_fires_for_an_isolated_sample_only() -> None:
    isolated = np.full(DIM, 40.0)
    x, proba = _batch_with(isolated, predicted=0)
    result = _detector().detect(x, proba, thresholds=THRESHOLDS)
    assert 30 in result.reasons[0]
    assert sum(30 in r for r in result.reasons[1:]) == 0


def test_outlier_quiet_inside_a_cluster() -> None:
    assert 30 not in _reasons_of_first(_centre(2), predicted=2)


def test_outlier_scales_past_the_reference_cap() -> None:
    # 6,000 samples: more than the 5,000-sample reference, so most samples are not in it.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(6000, 8))
    x[17] = 30.0
    y_train = np.repeat(np.arange(2), 10)
    detector = HardExampleDetector().fit(rng.normal(size=(20, 8)), y_train, n_classes=2)
    proba = np.tile([0.99, 0.01], (len(x), 1))
    result = detector.detect(x, proba, thresholds=np.array([0.5, 0.5]))
    flagged = [i for i, r in enumerate(result.reasons) if 30 in r]
    assert 17 in flagged
    assert len(flagged) <= 0.01 * (len(x) + 20) + 1  # the top 1% of all samples, labeled ones included


# Rules 5-10: image statistics far from the labeled images.


def _stats(n: int, seed: int = 0) -> np.ndarray:
    """Labeled-like statistics: 224 x 224 squares, bright, moderately coloured and sharp."""
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [
            np.full(n, 224.0),
            np.full(n, 1.0),
            rng.normal(180, 10, n),
            rng.normal(100, 15, n),
            rng.normal(40, 8, n),
            np.exp(rng.normal(np.log(500), 0.3, n)),
        ]
    )


OFF_VALUES = {
    "resolution": (640.0, 230.0),
    "aspect_ratio": (16 / 9, 1.05),
    "brightness": (20.0, 175.0),
    "saturation": (250.0, 110.0),
    "colorfulness": (140.0, 45.0),
    "sharpness": (5.0, 450.0),
}


def _detect_with_stats(stats: np.ndarray) -> HardExamples:
    x, y = _typical(PER_CLASS)
    detector = _detector(stats_train=_stats(len(_training()[1])))
    return detector.detect(x[: len(stats)], _confident(y[: len(stats)]), thresholds=THRESHOLDS, stats=stats)


@pytest.mark.parametrize("name", STAT_NAMES)
def test_image_statistic_far_from_the_labeled_images(name: str) -> None:
    far, near = OFF_VALUES[name]
    stats = _stats(3, seed=9)
    j = STAT_NAMES.index(name)
    stats[0, j] = far
    stats[1, j] = near
    result = _detect_with_stats(stats)
    assert result.reasons[0] == [STAT_REASONS[name]]
    assert result.reasons[1] == []
    assert result.reasons[2] == []


def test_a_very_dark_image_among_bright_ones() -> None:
    stats = _stats(2, seed=4)
    stats[0, STAT_NAMES.index("brightness")] = 15.0
    result = _detect_with_stats(stats)
    assert result.reasons == [[7], []]


def test_image_statistics_off_without_stats() -> None:
    x, y = _typical(1)
    detector = _detector(stats_train=_stats(len(_training()[1])))
    result = detector.detect(x, _confident(y), thresholds=THRESHOLDS)
    assert not any(set(r) & set(range(5, 11)) for r in result.reasons)


def test_unmeasured_statistic_does_not_fire() -> None:
    stats = _stats(1, seed=2)
    stats[0, :] = np.nan
    assert _detect_with_stats(stats).reasons == [[]]


def test_stats_at_detect_need_stats_at_fit() -> None:
    x, y = _typical(1)
    with pytest.raises(ValueError, match="stats_train"):
        _detector().detect(x, _confident(y), thresholds=THRESHOLDS, stats=_stats(len(x)))


# Rules 19-29: the prediction flips under a perturbation.


@pytest.mark.parametrize("code", range(19, 30))
def test_prediction_flip_under_perturbation(code: int) -> None:
    x, y = _typical(2)
    augmented = {code: (np.array([0, 1]), np.array([y[0], (y[1] + 1) % N_CLASSES]))}
    result = _detector().detect(x, _confident(y), thresholds=THRESHOLDS, augmented=augmented)
    assert result.reasons[0] == []  # checked, same prediction
    assert result.reasons[1] == [code]  # checked, flipped
    assert all(r == [] for r in result.reasons[2:])  # not checked


def test_several_perturbations_and_empty_checks() -> None:
    x, y = _typical(1)
    flipped = (y[:1] + 1) % N_CLASSES
    augmented = {
        20: (np.array([0]), flipped),
        29: (np.array([0]), flipped),
        22: (np.array([], dtype=int), np.array([], dtype=int)),
    }
    result = _detector().detect(x, _confident(y), thresholds=THRESHOLDS, augmented=augmented)
    assert result.reasons[0] == [20, 29]


@pytest.mark.parametrize(
    "augmented",
    [
        {18: (np.array([0]), np.array([1]))},
        {30: (np.array([0]), np.array([1]))},
        {20: (np.array([0, 1]), np.array([1]))},
        {20: (np.array([99]), np.array([1]))},
        {20: (np.array([-1]), np.array([1]))},
        {20: (np.array([0.5]), np.array([1]))},
        {20: (np.array([0]), np.array([0.5]))},
    ],
)
def test_bad_augmented(augmented: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
    x, y = _typical(1)
    with pytest.raises(ValueError, match="augmented"):
        _detector().detect(x, _confident(y), thresholds=THRESHOLDS, augmented=augmented)


# Coefficient, hard flag and hard_details.


def test_coefficient_grows_with_reasons_and_uncertainty() -> None:
    x = np.vstack([_typical(1)[0][:1]] * 4)
    proba = _confident(np.zeros(4, dtype=int), 0.98)
    proba[3] = [0.5, 0.3, 0.2]
    flipped = np.array([1, 1])
    augmented = {20: (np.array([1, 2]), flipped), 22: (np.array([2]), flipped[:1])}
    result = _detector().detect(x, proba, thresholds=THRESHOLDS, augmented=augmented)
    assert [len(r) for r in result.reasons[:3]] == [0, 1, 2]
    assert result.coefficient[0] < result.coefficient[1] < result.coefficient[2]
    assert result.coefficient[2] == pytest.approx(1 - 0.98 * 0.8**2)
    assert result.coefficient[3] > result.coefficient[0]
    assert np.all((result.coefficient >= 0) & (result.coefficient <= 1))
    assert np.array_equal(result.hard, np.array([len(r) > 0 for r in result.reasons]))


def test_details_are_modelarts_hard_details() -> None:
    x, proba = _batch_with(_centre(1) + 0.1, predicted=0, confidence=0.6)
    augmented = {20: (np.array([0]), np.array([1]))}
    result = _detector().detect(x, proba, thresholds=THRESHOLDS, augmented=augmented)
    details = result.details(0)
    assert set(details) == {str(code) for code in result.reasons[0]}
    assert {"1", "2", "20"} <= set(details)
    for key, detail in details.items():
        assert set(detail) == {"id", "alo_name", "reason", "suggestion"}
        assert detail["id"] == int(key)
        assert all(
            isinstance(detail[field], str) and detail[field] for field in ("alo_name", "reason", "suggestion")
        )
    assert result.details(1) == {}


def test_every_implemented_code_has_words() -> None:
    implemented = {0, 1, 2, 3, *range(5, 19), *range(19, 30), 30}
    assert set(REASONS) == implemented
    assert len({r.alo_name for r in REASONS.values()}) == len(REASONS)
    for code, reason in REASONS.items():
        assert reason.code == code
        assert reason.detail()["id"] == code
    # The rules state their numbers.
    assert "3.5" in REASONS[7].reason
    assert "5 nearest" in REASONS[2].reason
    assert "fliplr" in REASONS[20].reason


# Bad inputs.


def test_detect_before_fit() -> None:
    with pytest.raises(RuntimeError, match="before fit"):
        HardExampleDetector().detect(np.zeros((1, DIM)), np.ones((1, 3)) / 3, thresholds=THRESHOLDS)


@pytest.mark.parametrize(
    ("x", "proba", "thresholds"),
    [
        (np.zeros((2, DIM + 1)), np.full((2, 3), 1 / 3), THRESHOLDS),
        (np.zeros((2, DIM)), np.full((2, 4), 1 / 4), THRESHOLDS),
        (np.zeros((2, DIM)), np.full((3, 3), 1 / 3), THRESHOLDS),
        (np.zeros((2, DIM)), np.full((2, 3), 1 / 3), np.full(2, 0.9)),
        (np.full((2, DIM), np.nan), np.full((2, 3), 1 / 3), THRESHOLDS),
        (np.zeros(DIM), np.full((1, 3), 1 / 3), THRESHOLDS),
    ],
)
def test_bad_detect_inputs(x: np.ndarray, proba: np.ndarray, thresholds: np.ndarray) -> None:
    with pytest.raises(ValueError):
        _detector().detect(x, proba, thresholds=thresholds)


@pytest.mark.parametrize(
    ("y", "n_classes"),
    [
        (np.array([0, 1, 3]), 3),
        (np.array([0, -1, 1]), 3),
        (np.array([0.5, 1.0, 1.0]), 3),
        (np.array([0, 1]), 3),
    ],
)
def test_bad_fit_inputs(y: np.ndarray, n_classes: int) -> None:
    with pytest.raises(ValueError):
        HardExampleDetector().fit(np.zeros((3, 4)), y, n_classes=n_classes)


def test_empty_batch() -> None:
    result = _detector().detect(np.zeros((0, DIM)), np.zeros((0, N_CLASSES)), thresholds=THRESHOLDS)
    assert result.hard.shape == (0,)
    assert result.reasons == []


def test_tiny_training_set() -> None:
    # One labeled sample per class: rules that need spread stay quiet instead of failing.
    x = np.eye(3)
    detector = HardExampleDetector().fit(x, np.arange(3), n_classes=3)
    result = detector.detect(np.eye(3) * 1.1, np.eye(3) * 0.9 + 0.1 / 3, thresholds=np.full(3, 0.5))
    assert result.reasons == [[], [], []]


def test_whole_number_float_labels_are_class_indices() -> None:
    x, y = _training()
    as_float = HardExampleDetector().fit(x, y.astype(float), n_classes=N_CLASSES)
    query, proba = _batch_with(_centre(1) + 0.1, predicted=0)
    assert as_float.detect(query, proba, thresholds=THRESHOLDS).reasons == (
        _detector().detect(query, proba, thresholds=THRESHOLDS).reasons
    )
