"""Merging results of several labelers: agreeing results merge, disagreements are conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from labelarts.services.team_tasks.merging import agree, iou, merge
from labelarts.services.team_tasks.report import Verdict, check_stats, letter


def box(name: str, x1: float, y1: float, x2: float, y2: float) -> dict[str, Any]:
    return {
        "name": name,
        "type": 1,
        "property": {"@modelarts:shape": "bndbox", "@modelarts:feature": [[x1, y1], [x2, y2]]},
    }


def test_iou() -> None:
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0


def test_boxes_agree_at_iou_half_and_merge_to_the_mean() -> None:
    a = [box("cat", 0, 0, 10, 10), box("dog", 20, 20, 30, 30)]
    b = [box("dog", 21, 21, 31, 31), box("cat", 1, 0, 11, 10)]
    assert agree(a, b)
    merged = merge([a, b])
    assert merged is not None
    assert merged[0]["property"]["@modelarts:feature"] == [[0.5, 0.0], [10.5, 10.0]]
    assert merged[1]["property"]["@modelarts:feature"] == [[20.5, 20.5], [30.5, 30.5]]


def test_disagreements_are_conflicts_unless_a_majority_agrees() -> None:
    a, b = [box("cat", 0, 0, 10, 10)], [box("cat", 6, 6, 16, 16)]  # IoU 16/184
    assert not agree(a, b)
    assert merge([a, b]) is None
    assert merge([[{"name": "cat"}], [{"name": "dog"}]]) is None
    assert merge([[{"name": "cat"}], [{"name": "dog"}], [{"name": "cat"}]]) == [
        {"name": "cat", "property": {}}
    ]
    assert merge([a, [box("dog", 0, 0, 10, 10)]]) is None  # same place, other name
    assert merge([a, [*a, box("cat", 50, 50, 60, 60)]]) is None  # an extra object


def test_report_numbers_by_hand() -> None:
    verdicts = [Verdict(True, "A"), Verdict(True, "C"), Verdict(True, None), Verdict(False), Verdict(None)]
    stats = check_stats("c1", 20, verdicts, sampling_num=5, sampling_rate=None)
    # points 100 + 60 + 100 + 0 = 260 over 4 checked: mean 65 -> C
    assert stats == {
        "task_id": "c1",
        "total_sample_count": 20,
        "sampled_sample_count": 5,
        "checked_sample_count": 4,
        "accepted_sample_count": 3,
        "rejected_sample_count": 1,
        "unchecked_sample_count": 1,
        "pass_rate": 0.75,
        "score": "C",
        "total_score": 260,
        "sampling_num": 5,
    }
    empty = check_stats(None, 3, [], sampling_num=None, sampling_rate=0.5)
    assert empty["score"] == "E" and empty["pass_rate"] == 0.0 and empty["total_score"] == 0
    assert [letter(m) for m in (95, 90, 70, 50, 30, 29.9)] == ["A", "A", "B", "C", "D", "E"]
