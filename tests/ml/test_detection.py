"""The pure parts of detection auto labeling: geometry, matching, windows, box statistics and
the flip check (the learning itself is tested end to end in tests/autolabel/test_detection.py)."""

from __future__ import annotations

import numpy as np
import pytest

from labelarts.ml.calibration import expected_calibration_error
from labelarts.ml.detection import (
    Detections,
    _thresholds,
    box_iou,
    choose_scale,
    match_detections,
    nms,
    platt_maps,
    wilson_lower_bound,
    windows,
)
from labelarts.ml.detection_hard import (
    BOX_STAT_NAMES,
    BOX_STAT_REASONS,
    BoxStatRules,
    box_statistics,
    flip_boxes,
    flip_inconsistent,
)


def dets(boxes: list[list[float]], labels: list[int], scores: list[float]) -> Detections:
    return Detections(
        np.array(boxes, float).reshape(-1, 4), np.array(labels, np.int64), np.array(scores, float)
    )


def test_iou_and_nms() -> None:
    a = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], float)
    iou = box_iou(a, a)
    assert iou[0, 0] == 1.0
    assert iou[0, 1] == pytest.approx(50 / 150)
    assert iou[0, 2] == 0.0
    assert nms(a, np.array([0.9, 0.8, 0.7]), 0.4).tolist() == [0, 1, 2]
    assert nms(a, np.array([0.9, 0.8, 0.7]), 0.3).tolist() == [0, 2]


def test_matching_takes_each_true_box_once_and_needs_the_label() -> None:
    truth = np.array([[0, 0, 10, 10]], float)
    found = dets([[0, 0, 10, 10], [1, 0, 10, 10], [0, 0, 10, 10]], [0, 0, 1], [0.9, 0.8, 0.95])
    assert match_detections(found, truth, np.array([0])).tolist() == [True, False, False]
    assert not match_detections(dets([], [], []), truth, np.array([0])).any()


def test_windows_cover_the_image_and_scale_follows_small_boxes() -> None:
    found = windows((100, 80), np.array([[20.0, 20.0], [40.0, 30.0]]))
    assert found.shape[1] == 4 and len(found) > 20
    assert (found[:, 0] >= 0).all() and (found[:, 2] <= 100).all() and (found[:, 3] <= 80).all()
    # Some window matches any 20 x 20 box in the image well.
    assert box_iou(np.array([[37, 41, 57, 61]], float), found).max() >= 0.6
    assert choose_scale([np.array([[0, 0, 1000, 1000]], float)], [np.array([0])]) == 0.25


def test_the_scale_follows_the_smallest_label_however_many_boxes_the_others_have() -> None:
    """Small boxes of a rare label set the scale (their median shorter side becomes 48 input
    pixels), however many larger boxes another label has: more labeled images of the common
    label must not shrink the rare one."""
    small = [np.array([[0, 0, 30, 24], [0, 0, 24, 40], [5, 5, 29, 30]], float)]
    few = choose_scale([*small, np.array([[0, 0, 96, 96]], float)], [np.array([1, 1, 1]), np.array([0])])
    crowded = [np.array([[0, 0, 96, 90]] * 40, float)] * 5
    many = choose_scale(small + crowded, [np.array([1, 1, 1])] + [np.zeros(40, np.int64)] * 5)
    assert few == many == pytest.approx(48 / 24)
    # One label alone: its median.
    assert choose_scale(crowded, [np.zeros(40, np.int64)] * 5) == pytest.approx(48 / 90)


def test_each_label_gets_its_own_calibration_when_it_has_enough_held_out_boxes() -> None:
    """Label 0's boxes are right far more often than label 1's at the same raw probability (each
    follows a Platt map of its own): one pooled map is off for both, a map per label fits each
    (expected calibration error on the same boxes); a label with few boxes takes the pooled map."""
    rng = np.random.default_rng(0)

    def platt(m: tuple[float, float], r: np.ndarray) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-(m[0] * np.log(r / (1 - r)) + m[1]))))

    raws = [rng.uniform(0.05, 0.95, 2000) for _ in range(2)]
    rights = [rng.random(2000) < platt(m, r) for m, r in zip([(2.0, 1.0), (2.0, -2.5)], raws, strict=True)]
    raw = np.concatenate([*raws, [0.9, 0.8, 0.2]])
    right = np.concatenate([*rights, [True, True, False]])
    labels = np.repeat([0, 1, 2], [2000, 2000, 3])
    pooled, maps, kinds = platt_maps(raw, right, labels, 3)
    assert kinds == ["label", "label", "pooled"]
    assert maps[2].tolist() == list(pooled)
    for label in (0, 1):
        own = expected_calibration_error(platt(tuple(maps[label]), raws[label]), rights[label], 10)
        shared = expected_calibration_error(platt(pooled, raws[label]), rights[label], 10)
        assert own < 0.04 and shared > 0.1, (label, own, shared)


def test_auto_accept_thresholds_need_the_precision_s_lower_bound_to_reach_the_target() -> None:
    """Ten held-out boxes all right reach 95% precision, but not with 95% confidence; sixty do.
    Below the last right box of a run the bound falls, so the threshold stops above the errors."""
    few = np.linspace(0.99, 0.9, 10)
    assert _thresholds(few, np.ones(10, bool), np.zeros(10, np.int64), 1, 0.95, z=0)[0] == pytest.approx(0.9)
    assert _thresholds(few, np.ones(10, bool), np.zeros(10, np.int64), 1, 0.95, z=1.645)[0] == 1.0
    scores = np.linspace(0.99, 0.5, 100)
    right = np.ones(100, bool)
    right[[70, 75, 80, 85, 90, 95]] = False
    threshold = _thresholds(scores, right, np.zeros(100, np.int64), 1, 0.95, z=1.645)[0]
    assert scores[69] >= threshold > scores[70]
    assert wilson_lower_bound(np.array([60]), np.array([60]), 1.645)[0] >= 0.95
    assert wilson_lower_bound(np.array([57]), np.array([60]), 1.645)[0] < 0.95


def test_box_statistics_and_offsets() -> None:
    gray = np.full((100, 100), 100.0)
    stats = box_statistics(np.array([[10, 10, 30, 30], [50, 50, 70, 70]], float), (100, 100), gray)
    assert stats.shape == (len(BOX_STAT_NAMES),)
    assert stats[0] == pytest.approx(np.log(3))
    assert stats[1] == pytest.approx(0.0)  # equal areas
    assert stats[5] == pytest.approx(100.0)
    assert np.isnan(box_statistics(np.zeros((0, 4)), (100, 100), gray)[1:]).all()
    rng = np.random.default_rng(0)
    train = np.array(
        [
            box_statistics(np.array([[x, 10, x + 20, 30]], float), (100, 100), gray)
            for x in rng.uniform(5, 60, 8)
        ]
    )
    rules = BoxStatRules().fit(train)
    assert rules.reasons(train[0]) == []
    # Ten boxes where the labeled images had one, and wide ones.
    many = np.array([[5 * i, 5, 5 * i + 40, 9] for i in range(10)], float)
    reasons = rules.reasons(box_statistics(many, (100, 100), gray))
    assert BOX_STAT_REASONS["count"] in reasons and BOX_STAT_REASONS["aspect_ratio"] in reasons


def test_flip_check() -> None:
    size = (100, 50)
    written = dets([[10, 10, 30, 20]], [0], [0.9])
    assert flip_boxes(written.boxes, size, "lr").tolist() == [[70, 10, 90, 20]]
    assert flip_boxes(written.boxes, size, "ud").tolist() == [[10, 30, 30, 40]]
    mirrored = dets([[70, 10, 90, 20]], [0], [0.6])
    assert not flip_inconsistent(written, mirrored, size, "lr")
    assert flip_inconsistent(written, mirrored, size, "ud")
    assert flip_inconsistent(written, dets([[70, 10, 90, 20]], [1], [0.9]), size, "lr")
