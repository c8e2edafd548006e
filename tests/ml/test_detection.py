"""The pure parts of detection auto labeling: geometry, matching, windows, box statistics and
the flip check (the learning itself is tested end to end in tests/autolabel/test_detection.py)."""

from __future__ import annotations

import numpy as np
import pytest

from labelarts.ml.detection import (
    Detections,
    box_iou,
    choose_scale,
    match_detections,
    nms,
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
    assert choose_scale([np.array([[0, 0, 24, 24], [0, 0, 96, 96]], float)]) == pytest.approx(48 / 31.2)
    assert choose_scale([np.array([[0, 0, 1000, 1000]], float)]) == 0.25


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
