"""Box statistics of one detection image, for feature analysis (``sys_data_analyse``).

Arrays in, numbers out, no I/O. For an image of ``width`` x ``height`` and its boxes
``(xmin, ymin, xmax, ymax)`` in pixels (boxes of no area are left out by the caller):

* ``box_area_std``: the standard deviation of the boxes' area ratios (box area / image area)
  in the image, in [0, 0.5]; 0 for one box (the guide's "standard deviation of box areas");
* per box, ``box_marginalization``: the distance from the box's centre to the image's centre
  over half the image's diagonal, in [0, 1]; 0 at the centre, 1 in a corner (the guide's
  centre-distance ratio);
* per box, ``box_overlap``: its largest intersection over union with another box of the same
  image, in [0, 1]; 0 when it touches none;
* per box, ``box_brightness``: the mean luma (BT.601) of the pixels it covers, in [0, 255];
* per box, ``box_blur``: the variance of the 4-neighbour Laplacian of those pixels (higher is
  sharper; 0 for a box under 3x3 pixels), as ``blur`` is for the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labelarts.ml.image_stats import laplacian_variance

__all__ = ["BoxStats", "box_stats"]


@dataclass(frozen=True)
class BoxStats:
    area_std: float
    marginalization: tuple[float, ...]
    overlap: tuple[float, ...]
    brightness: tuple[float, ...]
    blur: tuple[float, ...]


def _iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pairwise IoU of two (n, 4) arrays of boxes."""
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def box_stats(
    boxes: NDArray[np.float64], width: int, height: int, gray: NDArray[np.float64] | None
) -> BoxStats:
    """The statistics of one image's boxes (an (n, 4) array); ``gray`` is the image's luma as
    an (height, width) array, or None to leave brightness and blur out."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    n = len(boxes)
    if n == 0 or width <= 0 or height <= 0:
        return BoxStats(0.0, (), (), (), ())
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / float(width * height)
    centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], axis=1)
    half_diagonal = float(np.hypot(width, height)) / 2
    margin = np.linalg.norm(centres - np.array([width / 2, height / 2]), axis=1) / half_diagonal
    if n > 1:
        iou = _iou(boxes, boxes)
        np.fill_diagonal(iou, 0.0)
        overlap = iou.max(axis=1)
    else:
        overlap = np.zeros(1)
    brightness: list[float] = []
    blur: list[float] = []
    if gray is not None:
        for xmin, ymin, xmax, ymax in boxes:
            x1, y1 = max(int(np.floor(xmin)), 0), max(int(np.floor(ymin)), 0)
            x2, y2 = min(int(np.ceil(xmax)), gray.shape[1]), min(int(np.ceil(ymax)), gray.shape[0])
            crop = gray[y1:y2, x1:x2]
            if crop.size == 0:
                continue
            brightness.append(float(crop.mean()))
            blur.append(laplacian_variance(crop))
    return BoxStats(
        area_std=float(areas.std()),
        marginalization=tuple(float(m) for m in np.clip(margin, 0.0, 1.0)),
        overlap=tuple(float(o) for o in overlap),
        brightness=tuple(brightness),
        blur=tuple(blur),
    )
