"""Hard-example reasons of object-detection auto labels: arrays in, arrays out.

Reasons, per image (docs/hard-examples.md states each rule with its numbers):

* 0: no box was found (none written);
* 1: a written box's calibrated score is under its label's auto-accept threshold (or, with
  ``confidence_scope``, inside that range);
* 11-18: a statistic of the image's boxes (:data:`BOX_STAT_NAMES`) is far from the labeled
  images' (robust z-score above :data:`BOX_STAT_Z`, spreads floored by :data:`BOX_STAT_FLOORS`);
* 20 / 22: the boxes found on the left-right / upside-down flipped image, flipped back, do not
  match the boxes found on the image (a written box without a counterpart of its label at
  IoU >= :data:`FLIP_IOU`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from labelarts.ml.detection import Detections, box_iou, match_detections
from labelarts.ml.image_stats import laplacian_variance

__all__ = [
    "BOX_STAT_NAMES",
    "BOX_STAT_REASONS",
    "BoxStatRules",
    "box_statistics",
    "flip_boxes",
    "flip_inconsistent",
]

NOTHING_FOUND = 0
LOW_CONFIDENCE = 1
FLIP_LR, FLIP_UD = 20, 22
FLIP_IOU = 0.5
FLIP_MIN_SCORE = 0.25
"""A flipped copy's box counts as a counterpart down to this calibrated score (below the written
boxes' 0.5, so that a box near the cut-off is not flagged for a small change of score)."""
BOX_STAT_NAMES: tuple[str, ...] = (
    "count",
    "area_spread",
    "aspect_ratio",
    "area_portion",
    "edge",
    "brightness",
    "sharpness",
    "overlap",
)
BOX_STAT_REASONS: dict[str, int] = {name: 11 + i for i, name in enumerate(BOX_STAT_NAMES)}
BOX_STAT_WORDS: dict[str, str] = {
    "count": "number of boxes (compared as log(1 + n))",
    "area_spread": "standard deviation of the boxes' log areas (images with two boxes or more)",
    "aspect_ratio": "mean log aspect ratio (width / height) of the boxes",
    "area_portion": "mean box area as a share of the image (compared on a log scale)",
    "edge": "mean distance from a box to the nearest image border, as a share of the image's shorter side",
    "brightness": "mean brightness (luma, 0-255) inside the boxes",
    "sharpness": "mean sharpness inside the boxes (variance of the Laplacian at 64 px, as log(1 + v))",
    "overlap": "mean, over the boxes, of the largest IoU with another box of the image",
}
BOX_STAT_FLOORS: dict[str, float] = {
    "count": 0.3,
    "area_spread": 0.15,
    "aspect_ratio": 0.1,
    "area_portion": 0.2,
    "edge": 0.03,
    "brightness": 8.0,
    "sharpness": 0.25,
    "overlap": 0.05,
}
"""Smallest spread (1.4826 x MAD) per statistic: a few labeled images often agree closely."""
BOX_STAT_Z = 3.5
_MAD_TO_SIGMA = 1.4826
_SHARPNESS_SIDE = 64


def box_statistics(boxes: np.ndarray, size: tuple[int, int], gray: np.ndarray | None) -> NDArray[np.float64]:
    """The eight statistics (:data:`BOX_STAT_NAMES` order) of one image's boxes (n, 4) in an
    image of ``size`` (w, h); ``gray`` the image's luma (h, w) in 0-255 for brightness and
    sharpness. NaN where a statistic is undefined (no boxes; a spread of one box)."""
    out = np.full(len(BOX_STAT_NAMES), np.nan)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    n = len(boxes)
    out[0] = np.log1p(n)
    if n == 0:
        return out
    width, height = size
    w = np.maximum(boxes[:, 2] - boxes[:, 0], 1.0)
    h = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
    area = w * h
    if n >= 2:
        out[1] = float(np.std(np.log(area)))
    out[2] = float(np.mean(np.log(w / h)))
    out[3] = float(np.log(np.mean(area) / max(1.0, float(width * height))))
    edge = np.minimum.reduce([boxes[:, 0], boxes[:, 1], width - boxes[:, 2], height - boxes[:, 3]])
    out[4] = float(np.mean(np.clip(edge, 0, None)) / max(1.0, float(min(width, height))))
    if gray is not None:
        brightness, sharpness = [], []
        for x1, y1, x2, y2 in boxes.round().astype(int):
            crop = gray[max(0, y1) : max(y1 + 1, y2), max(0, x1) : max(x1 + 1, x2)]
            if crop.size == 0:
                continue
            brightness.append(float(crop.mean()))
            sharpness.append(np.log1p(laplacian_variance(_resized(crop))))
        if brightness:
            out[5] = float(np.mean(brightness))
            out[6] = float(np.mean(sharpness))
    if n >= 2:
        overlaps = box_iou(boxes, boxes)
        np.fill_diagonal(overlaps, 0.0)
        out[7] = float(np.mean(overlaps.max(1)))
    else:
        out[7] = 0.0
    return out


def _resized(crop: np.ndarray) -> NDArray[np.float64]:
    """A crop resampled (nearest) so that its longer side is about 64 px: sharpness does not
    depend on the box's size."""
    h, w = crop.shape
    step = max(h, w) / _SHARPNESS_SIDE
    rows = np.minimum((np.arange(max(1, round(h / step))) * step).astype(int), h - 1)
    cols = np.minimum((np.arange(max(1, round(w / step))) * step).astype(int), w - 1)
    return np.asarray(crop[np.ix_(rows, cols)], np.float64)


class BoxStatRules:
    """Reasons 11-18: fit on the labeled images' statistics (their true boxes), then flag."""

    def __init__(self) -> None:
        self.median = np.full(len(BOX_STAT_NAMES), np.nan)
        self.spread = np.full(len(BOX_STAT_NAMES), np.nan)

    def fit(self, stats: np.ndarray) -> BoxStatRules:
        stats = np.asarray(stats, np.float64).reshape(-1, len(BOX_STAT_NAMES))
        for j, name in enumerate(BOX_STAT_NAMES):
            column = stats[:, j][np.isfinite(stats[:, j])]
            if column.size < 3:  # too few labeled images with this statistic: the rule is off
                continue
            median = float(np.median(column))
            self.median[j] = median
            self.spread[j] = max(
                BOX_STAT_FLOORS[name], _MAD_TO_SIGMA * float(np.median(np.abs(column - median)))
            )
        return self

    def reasons(self, stats: np.ndarray) -> list[int]:
        z = np.abs(np.asarray(stats, np.float64) - self.median) / self.spread
        return [
            BOX_STAT_REASONS[name]
            for j, name in enumerate(BOX_STAT_NAMES)
            if np.isfinite(z[j]) and z[j] > BOX_STAT_Z
        ]


def flip_boxes(boxes: np.ndarray, size: tuple[int, int], axis: str) -> NDArray[np.float64]:
    """Boxes mirrored left-right (``axis="lr"``) or upside down (``"ud"``) in an image of ``size``."""
    out = np.array(boxes, np.float64, copy=True).reshape(-1, 4)
    width, height = size
    if axis == "lr":
        out[:, [0, 2]] = width - out[:, [2, 0]]
    else:
        out[:, [1, 3]] = height - out[:, [3, 1]]
    return out


def flip_inconsistent(written: Detections, flipped: Detections, size: tuple[int, int], axis: str) -> bool:
    """Whether a written box has no counterpart (same label, IoU >= FLIP_IOU) among the boxes
    found on the flipped image (scores down to FLIP_MIN_SCORE), flipped back."""
    back = flipped.above(FLIP_MIN_SCORE)
    back = Detections(flip_boxes(back.boxes, size, axis), back.labels, back.scores)
    return not bool(match_detections(written, back.boxes, back.labels, FLIP_IOU).all())
