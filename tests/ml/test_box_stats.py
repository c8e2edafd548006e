"""Box statistics for feature analysis: each figure on boxes simple enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from labelarts.ml.box_stats import box_stats


def test_two_boxes_on_a_known_image() -> None:
    gray = np.zeros((100, 200))
    gray[0:50, 0:100] = 200.0  # the first box is bright and flat
    gray[50:100, 100:200] = np.tile([0.0, 255.0], 50)  # the second is striped (sharp)
    boxes = np.array([[0, 0, 100, 50], [100, 50, 200, 100]], dtype=float)
    found = box_stats(boxes, 200, 100, gray)
    assert found.area_std == pytest.approx(0.0)  # both are a quarter of the image
    # Each centre (50, 25) and (150, 75) is half the half-diagonal from the image's centre.
    assert found.marginalization == pytest.approx((0.5, 0.5))
    assert found.overlap == (0.0, 0.0)
    assert found.brightness == pytest.approx((200.0, 127.5))
    assert found.blur[0] == 0.0 and found.blur[1] > 10_000


def test_overlap_is_the_largest_iou_and_area_std_spreads() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [50, 50, 90, 90]], dtype=float)
    found = box_stats(boxes, 100, 100, None)
    # Boxes 0 and 1 share half their width: IoU 50 / 150.
    assert found.overlap == pytest.approx((1 / 3, 1 / 3, 0.0))
    assert found.area_std == pytest.approx(float(np.std([0.01, 0.01, 0.16])))
    assert found.brightness == () and found.blur == ()
    # A box at the centre has 0; one in a corner nearly 1.
    centre = box_stats(np.array([[40, 40, 60, 60]], dtype=float), 100, 100, None)
    corner = box_stats(np.array([[0, 0, 2, 2]], dtype=float), 100, 100, None)
    assert centre.marginalization == (0.0,) and corner.marginalization[0] == pytest.approx(0.98, abs=0.01)
    assert box_stats(np.zeros((0, 4)), 100, 100, None).overlap == ()
