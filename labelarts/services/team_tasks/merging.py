"""Merging the results of one sample labeled by several people (``repetition`` > 1): pure.

Two results *agree* when they have the same image-level labels (names) and their objects
pair up one to one with the same name: boxes (``bndbox``) at IoU >= :data:`IOU_THRESHOLD`,
any other shape by equal points. Agreeing results are merged (each box's corners averaged over
its matches); when they do not all agree, a strict majority of agreeing results wins, and
otherwise the sample is a conflict: :func:`merge` answers ``None`` and nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

IOU_THRESHOLD = 0.5
FEATURE = "@modelarts:feature"
SHAPE = "@modelarts:shape"

Result = Sequence[dict[str, Any]]


def _is_object(label: dict[str, Any]) -> bool:
    prop = label.get("property") or {}
    return isinstance(prop, dict) and FEATURE in prop


def _box(label: dict[str, Any]) -> tuple[float, float, float, float] | None:
    prop = label.get("property") or {}
    if prop.get(SHAPE) != "bndbox":
        return None
    points: Any = prop.get(FEATURE)
    try:
        (x1, y1), (x2, y2) = points[0], points[1]
        return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    except (TypeError, ValueError, IndexError):
        return None


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two boxes ``(x1, y1, x2, y2)``; 0 for empty boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(w, 0.0) * max(h, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _same_object(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("name") != b.get("name"):
        return False
    box_a, box_b = _box(a), _box(b)
    if box_a is not None and box_b is not None:
        return iou(box_a, box_b) >= IOU_THRESHOLD
    pa, pb = a.get("property") or {}, b.get("property") or {}
    return bool(pa.get(SHAPE) == pb.get(SHAPE) and pa.get(FEATURE) == pb.get(FEATURE))


def match_objects(a: Result, b: Result) -> list[tuple[int, int]] | None:
    """A one-to-one pairing of the objects of ``a`` and ``b`` (greedy by IoU, best first), or
    ``None`` when they do not pair up completely."""
    objs_a = [i for i, label in enumerate(a) if _is_object(label)]
    objs_b = [j for j, label in enumerate(b) if _is_object(label)]
    if len(objs_a) != len(objs_b):
        return None
    candidates: list[tuple[float, int, int]] = []
    for i in objs_a:
        for j in objs_b:
            if _same_object(a[i], b[j]):
                box_a, box_b = _box(a[i]), _box(b[j])
                overlap = iou(box_a, box_b) if box_a and box_b else 1.0
                candidates.append((-overlap, i, j))
    candidates.sort()
    used_a: set[int] = set()
    used_b: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for _, i, j in candidates:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return pairs if len(pairs) == len(objs_a) else None


def _tags(result: Result) -> list[str]:
    return sorted({str(label.get("name")) for label in result if not _is_object(label)})


def agree(a: Result, b: Result) -> bool:
    return _tags(a) == _tags(b) and match_objects(a, b) is not None


def _merged(results: Sequence[Result]) -> list[dict[str, Any]]:
    """The first result, each of its boxes averaged with the boxes it matches in the others."""
    base = [dict(label, property=dict(label.get("property") or {})) for label in results[0]]
    sums: dict[int, list[tuple[float, float, float, float]]] = {}
    for other in results[1:]:
        for i, j in match_objects(results[0], other) or []:
            box = _box(other[j])
            if box is not None and _box(base[i]) is not None:
                sums.setdefault(i, []).append(box)
    for i, boxes in sums.items():
        own = _box(base[i])
        assert own is not None
        every = [own, *boxes]
        mean = [sum(b[k] for b in every) / len(every) for k in range(4)]
        base[i]["property"][FEATURE] = [[mean[0], mean[1]], [mean[2], mean[3]]]
    return base


def merge(results: Sequence[Result]) -> list[dict[str, Any]] | None:
    """The merged result, or ``None`` (a conflict): all agree, else a strict majority agrees."""
    if not results:
        return None
    groups: list[list[int]] = []
    for index, result in enumerate(results):
        for group in groups:
            if agree(results[group[0]], result):
                group.append(index)
                break
        else:
            groups.append([index])
    groups.sort(key=len, reverse=True)
    best = groups[0]
    if len(groups) > 1 and len(best) * 2 <= len(results):
        return None
    return _merged([results[i] for i in best])
