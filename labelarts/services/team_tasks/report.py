"""Acceptance report arithmetic: pure (docs/team-labeling.md, "Acceptance report").

A checked sample's points: A 100, B 80, C 60, D 40; accepted without a score 100, rejected 0.
``total_score`` is the sum, ``score`` the letter of the mean (>= 90 A, >= 70 B, >= 50 C,
>= 30 D, else E; nothing checked: E), ``pass_rate`` accepted / checked (0.0 when nothing is).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

POINTS = {"A": 100, "B": 80, "C": 60, "D": 40}


def points(accept: bool, score: str | None) -> int:
    if not accept:
        return 0
    return POINTS.get(score or "", 100)


def letter(mean: float | None) -> str:
    if mean is None:
        return "E"
    for threshold, grade in ((90, "A"), (70, "B"), (50, "C"), (30, "D")):
        if mean >= threshold:
            return grade
    return "E"


@dataclass(frozen=True)
class Verdict:
    """One sample's acceptance verdict (``None``: sampled, not checked yet)."""

    accept: bool | None
    score: str | None = None


def check_stats(
    task_id: str | None,
    total: int,
    verdicts: Iterable[Verdict],
    *,
    sampling_num: int | None,
    sampling_rate: float | None,
) -> dict[str, Any]:
    """A ``CheckTaskStats`` object over the sampled samples' verdicts."""
    sampled = accepted = rejected = total_score = 0
    for verdict in verdicts:
        sampled += 1
        if verdict.accept is None:
            continue
        if verdict.accept:
            accepted += 1
        else:
            rejected += 1
        total_score += points(verdict.accept, verdict.score)
    checked = accepted + rejected
    body: dict[str, Any] = {
        "total_sample_count": total,
        "sampled_sample_count": sampled,
        "checked_sample_count": checked,
        "accepted_sample_count": accepted,
        "rejected_sample_count": rejected,
        "unchecked_sample_count": sampled - checked,
        "pass_rate": accepted / checked if checked else 0.0,
        "score": letter(total_score / checked if checked else None),
        "total_score": total_score,
    }
    if task_id is not None:
        body["task_id"] = task_id
    if sampling_num is not None:
        body["sampling_num"] = sampling_num
    if sampling_rate is not None:
        body["sampling_rate"] = sampling_rate
    return body
