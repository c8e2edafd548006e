"""Few-shot object detection on a frozen backbone: arrays in, arrays out.

The detector is a sliding-window classifier on the feature maps of
:mod:`labelarts.ml.features.feature_map` (docs/autolabel-detection.md has the measurements
behind each choice):

1. **Windows.** The labeled boxes' sizes are clustered into at most :data:`MAX_ANCHORS` anchor
   shapes; each anchor slides over the image with a step of a quarter of its shorter side.
2. **Window features.** The mean of the stride-32 map over the window, the means of the
   stride-16 map over the window's four quarters, and the window's log width and height:
   :data:`FEATURE_DIM` numbers, read from summed-area tables in constant time per window.
3. **Classifier and box regression.** Windows of the labeled images whose IoU with a labeled
   box is at least :data:`POSITIVE_IOU` take its label, those under :data:`NEGATIVE_IOU` are
   background; a multinomial logistic regression learns label vs background and a ridge
   regression the offsets from the window to the box. Both are linear in the window features,
   and the features are means of the maps, so on a new image the weights are applied to the maps
   first (a 1x1 projection) and every window is scored from summed-area tables of the
   projected maps: tens of thousands of windows cost little more than one.
4. **Per-label non-maximum suppression**, then across labels.
5. **Calibration.** The labeled images are split into folds; boxes found on the held-out images
   are matched to the true ones (IoU >= 0.5, same label), and a logistic (Platt) map turns the
   raw probability into the chance that a box is right. The per-label auto-accept threshold is
   the lowest calibrated score above which the held-out boxes reached the target precision.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "FEATURE_DIM",
    "BoxDetector",
    "Detections",
    "HeldOut",
    "LabeledImage",
    "box_iou",
    "choose_scale",
    "match_detections",
    "nms",
    "platt_maps",
    "wilson_lower_bound",
]

MAX_ANCHORS = 8
STEP_FRACTION = 0.25
POSITIVE_IOU = 0.6
NEGATIVE_IOU = 0.45
NMS_IOU = 0.3
CROSS_LABEL_NMS_IOU = 0.7
MIN_RAW_SCORE = 0.05
MAX_DETECTIONS = 300
NEGATIVES_PER_IMAGE = 400
MAX_TRAINING_ROWS = 40_000
TARGET_SHORT_SIDE = 48.0
"""Input scale: the smallest label's median box shorter side becomes this many input pixels."""
SCALE_RANGE = (0.25, 4.0)
CALIBRATION_FOLDS = 3
CALIBRATION_MAX_IMAGES = 60
LABEL_CALIBRATION_MIN_BOXES = 20
LABEL_CALIBRATION_MIN_EACH = 4
THRESHOLD_Z = 1.0
"""Auto-accept thresholds: the held-out precision's Wilson lower bound at one standard deviation
(one-sided 84%) must reach the target precision (docs/autolabel-detection.md: z = 0 accepted
boxes at 94% precision on BCCD, z = 1.645 accepted none)."""
FEATURE_DIM = 1280 + 4 * 112 + 2
PCA_DIM: int | None = None
CLASSIFIER_C = 0.1
RIDGE_ALPHA = 100.0
REGRESS = True
STD_FLOOR = 1.0

Maps = tuple[np.ndarray, np.ndarray]  # stride 16 (112, H, W), stride 32 (1280, H/2, W/2)


@dataclass(frozen=True)
class LabeledImage:
    """One labeled image: its maps (see :class:`FeatureMaps`), original size and true boxes
    ``(n, 4)`` ``x1, y1, x2, y2`` in original pixels with label indices ``(n,)``."""

    maps: Maps
    scale: tuple[float, float]
    size: tuple[int, int]
    boxes: NDArray[np.float64]
    labels: NDArray[np.int64]


@dataclass(frozen=True)
class HeldOut:
    """The boxes found on held-out labeled images during :meth:`BoxDetector.fit_calibrated`:
    raw probability, label index and whether each was right (IoU >= 0.5 with a true box of its
    label, VOC rule)."""

    raw: NDArray[np.float64]
    labels: NDArray[np.int64]
    correct: NDArray[np.bool_]


@dataclass
class Detections:
    """Boxes found on one image, best first: ``boxes`` (n, 4) in original pixels, clipped to the
    image; ``labels`` (n,) label indices; ``scores`` (n,) calibrated chance that the box is right
    (raw probability before :meth:`BoxDetector.calibrate`)."""

    boxes: NDArray[np.float64]
    labels: NDArray[np.int64]
    scores: NDArray[np.float64]

    def above(self, threshold: float) -> Detections:
        keep = self.scores >= threshold
        return Detections(self.boxes[keep], self.labels[keep], self.scores[keep])

    def __len__(self) -> int:
        return int(self.scores.size)


# --------------------------------------------------------------------------- geometry


def box_iou(a: np.ndarray, b: np.ndarray) -> NDArray[np.float64]:
    """IoU of every box in ``a`` (n, 4) with every box in ``b`` (m, 4): (n, m)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.asarray(np.divide(inter, union, out=np.zeros_like(inter), where=union > 0), np.float64)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> NDArray[np.int64]:
    """Indices kept by greedy non-maximum suppression, best score first."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    keep: list[int] = []
    boxes = np.asarray(boxes, np.float64)
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        overlaps = box_iou(boxes[best : best + 1], boxes[order[1:]])[0]
        order = order[1:][overlaps <= iou]
    return np.array(keep, dtype=np.int64)


def match_detections(
    found: Detections, boxes: np.ndarray, labels: np.ndarray, iou: float = 0.5
) -> NDArray[np.bool_]:
    """For each found box (in score order), whether it matches a not yet matched true box of its
    label with IoU >= ``iou`` (the PASCAL VOC rule)."""
    correct = np.zeros(len(found), dtype=bool)
    if not len(found) or not len(boxes):
        return correct
    overlaps = box_iou(found.boxes, boxes)
    taken = np.zeros(len(boxes), dtype=bool)
    for i in np.argsort(-found.scores, kind="stable"):
        candidates = np.where((labels == found.labels[i]) & ~taken, overlaps[i], -1.0)
        j = int(np.argmax(candidates))
        if candidates[j] >= iou:
            taken[j] = True
            correct[i] = True
    return correct


def choose_scale(boxes: Sequence[np.ndarray], labels: Sequence[np.ndarray]) -> float:
    """The input scale for every image: the median shorter side of the boxes of the label whose
    boxes are smallest becomes :data:`TARGET_SHORT_SIDE` input pixels, within
    :data:`SCALE_RANGE`. ``boxes[i]`` (n, 4) and ``labels[i]`` (n,) are one labeled image's.

    Per label, not over all boxes: a percentile of all boxes follows the most common label, and
    with more labeled images of a crowded label it moved to that label's size and shrank a rare
    small one under two cells of the stride-16 map (docs/autolabel-detection.md)."""
    all_boxes = np.concatenate([np.asarray(b, np.float64).reshape(-1, 4) for b in boxes])
    all_labels = np.concatenate([np.asarray(lab, np.int64).reshape(-1) for lab in labels])
    if not len(all_boxes):
        raise ValueError("no labeled boxes to choose a scale from")
    sides = np.minimum(all_boxes[:, 2] - all_boxes[:, 0], all_boxes[:, 3] - all_boxes[:, 1])
    reference = min(float(np.median(sides[all_labels == label])) for label in np.unique(all_labels))
    return float(np.clip(TARGET_SHORT_SIDE / max(1.0, reference), *SCALE_RANGE))


def _anchors(boxes: np.ndarray, seed: int) -> NDArray[np.float64]:
    """At most MAX_ANCHORS (width, height) shapes: k-means on log sizes of the labeled boxes."""
    sizes = np.log(np.maximum(np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1), 1.0))
    unique = np.unique(np.round(sizes, 3), axis=0)
    k = min(MAX_ANCHORS, len(unique))
    if k == len(unique):
        return np.asarray(np.exp(unique), np.float64)
    from sklearn.cluster import KMeans

    centres = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(sizes).cluster_centers_
    return np.asarray(np.exp(centres), np.float64)


def windows(size: tuple[int, int], anchors: np.ndarray) -> NDArray[np.float64]:
    """Every window (m, 4) of every anchor shape sliding over an image of ``size`` (w, h), clipped
    to the image; windows that keep under 40% of their area inside are dropped."""
    width, height = size
    out: list[np.ndarray] = []
    for aw, ah in anchors:
        step = max(2.0, STEP_FRACTION * min(aw, ah))
        xs = np.arange(aw / 2 - 0.25 * aw, width - aw / 2 + 0.25 * aw + 1e-6, step)
        ys = np.arange(ah / 2 - 0.25 * ah, height - ah / 2 + 0.25 * ah + 1e-6, step)
        if xs.size == 0:
            xs = np.array([width / 2])
        if ys.size == 0:
            ys = np.array([height / 2])
        cx, cy = np.meshgrid(xs, ys)
        raw = np.stack([cx - aw / 2, cy - ah / 2, cx + aw / 2, cy + ah / 2], -1).reshape(-1, 4)
        clipped = _clip(raw, size)
        inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1]) / (aw * ah)
        out.append(clipped[inside >= 0.4])
    return np.concatenate(out) if out else np.zeros((0, 4))


def _clip(boxes: np.ndarray, size: tuple[int, int]) -> NDArray[np.float64]:
    width, height = size
    out = np.array(boxes, np.float64, copy=True)
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out


# --------------------------------------------------------------------------- pooling


def _integral(fmap: np.ndarray) -> NDArray[np.float64]:
    """Summed-area table (C, H+1, W+1) of a (C, H, W) map."""
    c, h, w = fmap.shape
    table = np.zeros((c, h + 1, w + 1), np.float64)
    np.cumsum(np.cumsum(fmap, axis=1, dtype=np.float64), axis=2, out=table[:, 1:, 1:])
    return table


def _cells(lo: np.ndarray, hi: np.ndarray, stride: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell ranges [a, b) covering input-pixel spans [lo, hi) on a map of n cells, at least one."""
    a = np.clip(np.floor(lo / stride), 0, n - 1).astype(np.int64)
    b = np.clip(np.ceil(hi / stride), 1, n).astype(np.int64)
    return a, np.maximum(b, a + 1)


def _box_means(table: np.ndarray, boxes: np.ndarray, stride: float) -> NDArray[np.float64]:
    """Mean of the map over each box (input pixels), from its summed-area table: (n, C)."""
    _, h1, w1 = table.shape
    x1, x2 = _cells(boxes[:, 0], boxes[:, 2], stride, w1 - 1)
    y1, y2 = _cells(boxes[:, 1], boxes[:, 3], stride, h1 - 1)
    sums = table[:, y2, x2] - table[:, y1, x2] - table[:, y2, x1] + table[:, y1, x1]
    return np.asarray((sums / ((x2 - x1) * (y2 - y1))).T)


def _quarters(boxes: np.ndarray) -> list[np.ndarray]:
    x1, y1, x2, y2 = boxes.T
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    return [np.stack(q, 1) for q in ((x1, y1, mx, my), (mx, y1, x2, my), (x1, my, mx, y2), (mx, my, x2, y2))]


class _Pooler:
    """Window features of one image (see the module docstring), or, with weights given, the
    projected window scores without forming the features."""

    def __init__(self, maps: Maps, scale: tuple[float, float], weights: np.ndarray | None = None) -> None:
        self.scale = scale
        mid, head = maps
        if weights is not None:  # project first: (O, H, W) maps instead of (C, H, W)
            w_head = weights[:1280]
            w_mid = [weights[1280 + 112 * q : 1280 + 112 * (q + 1)] for q in range(4)]
            self.head = _integral(np.einsum("chw,co->ohw", head, w_head, optimize=True))
            self.mid = [_integral(np.einsum("chw,co->ohw", mid, w, optimize=True)) for w in w_mid]
        else:
            self.head = _integral(head)
            self.mid = [_integral(mid)]

    def _input_boxes(self, boxes: np.ndarray) -> np.ndarray:
        sx, sy = self.scale
        return np.asarray(boxes * np.array([sx, sy, sx, sy]))

    def features(self, boxes: np.ndarray) -> NDArray[np.float32]:
        scaled = self._input_boxes(boxes)
        parts = [_box_means(self.head, scaled, 32.0)]
        parts += [_box_means(self.mid[0], quarter, 16.0) for quarter in _quarters(scaled)]
        parts.append(_geometry(boxes))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def projected(self, boxes: np.ndarray, geometry_weights: np.ndarray) -> NDArray[np.float64]:
        scaled = self._input_boxes(boxes)
        out = _box_means(self.head, scaled, 32.0)
        for table, quarter in zip(self.mid, _quarters(scaled), strict=True):
            out = out + _box_means(table, quarter, 16.0)
        return np.asarray(out + _geometry(boxes) @ geometry_weights)


def _geometry(boxes: np.ndarray) -> NDArray[np.float64]:
    return np.asarray(
        np.log(np.maximum(np.stack([boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]], 1), 1.0)),
        np.float64,
    )


# --------------------------------------------------------------------------- the detector


@dataclass
class _Linear:
    """A linear map on raw window features: ``features @ weights + bias``."""

    weights: NDArray[np.float64]  # (FEATURE_DIM, O)
    bias: NDArray[np.float64]  # (O,)


@dataclass
class BoxDetector:
    """Fit on labeled images, then :meth:`detect` on others. ``n_labels`` label indices; raw
    scores after :meth:`fit`, calibrated ones after :meth:`fit_calibrated`."""

    n_labels: int
    seed: int = 0
    anchors: NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, 2)))
    _model: _Linear | None = None
    _platt: tuple[float, float] | None = None
    _platt_labels: NDArray[np.float64] | None = None  # (n_labels, 2): slope, intercept
    thresholds: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    estimates: dict[str, float] = field(default_factory=dict)
    calibration: list[str] = field(default_factory=list)
    """Per label: ``"label"`` (its own Platt map) or ``"pooled"`` (too few held-out boxes)."""
    heldout: HeldOut | None = None

    # -- training ---------------------------------------------------------------------------------

    def fit(self, images: Sequence[LabeledImage]) -> BoxDetector:
        if not images or not any(len(i.boxes) for i in images):
            raise ValueError("no labeled boxes to learn from")
        self.anchors = _anchors(np.concatenate([i.boxes for i in images if len(i.boxes)]), self.seed)
        rng = np.random.default_rng(self.seed)
        rows: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        offsets: list[np.ndarray] = []
        is_positive: list[np.ndarray] = []
        per_image = max(50, MAX_TRAINING_ROWS // max(1, len(images)))
        for image in images:
            X, y, t = self._training_rows(image, rng, per_image)
            rows.append(X)
            targets.append(y)
            offsets.append(t)
            is_positive.append(y > 0)
        X = np.concatenate(rows)
        y = np.concatenate(targets)
        t = np.concatenate(offsets)
        pos = np.concatenate(is_positive)
        self._model = _fit_linear(X, y, t, pos, self.n_labels)
        return self

    def _training_rows(
        self, image: LabeledImage, rng: np.random.Generator, limit: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Window features, targets (0 background, 1 + label) and box offsets of one image."""
        candidates = windows(image.size, self.anchors)
        if len(image.boxes):
            overlaps = box_iou(candidates, image.boxes)
            best = overlaps.argmax(1)
            best_iou = overlaps.max(1)
        else:
            best = np.zeros(len(candidates), np.int64)
            best_iou = np.zeros(len(candidates))
        positive = np.flatnonzero(best_iou >= POSITIVE_IOU)
        negative = np.flatnonzero(best_iou < NEGATIVE_IOU)
        # The true boxes themselves are positives too: no window may fit a rare shape well.
        n_neg = min(negative.size, NEGATIVES_PER_IMAGE, max(50, limit - positive.size - len(image.boxes)))
        negative = rng.choice(negative, size=n_neg, replace=False) if n_neg < negative.size else negative
        if positive.size > limit // 2:
            positive = rng.choice(positive, size=limit // 2, replace=False)
        chosen = np.concatenate([candidates[positive], candidates[negative], image.boxes])
        labels = np.concatenate(
            [1 + image.labels[best[positive]], np.zeros(negative.size, np.int64), 1 + image.labels]
        ).astype(np.int64)
        matched = np.concatenate([image.boxes[best[positive]], np.zeros((negative.size, 4)), image.boxes])
        pooler = _Pooler(image.maps, image.scale)
        return pooler.features(chosen), labels, _offsets(chosen, matched)

    def fit_calibrated(
        self,
        images: Sequence[LabeledImage],
        *,
        target_precision: float,
        progress: Callable[[float], None] | None = None,
    ) -> BoxDetector:
        """Fit, then calibrate scores and choose thresholds on held-out folds of ``images``."""
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(images))[:CALIBRATION_MAX_IMAGES]
        n_folds = min(CALIBRATION_FOLDS, len(order))
        raw: list[np.ndarray] = []
        correct: list[np.ndarray] = []
        labels: list[np.ndarray] = []
        found_true = 0
        n_true = 0
        for fold in range(n_folds):
            held = order[fold::n_folds]
            train = [images[i] for i in range(len(images)) if i not in set(held.tolist())]
            if not any(len(i.boxes) for i in train):
                continue
            model = BoxDetector(self.n_labels, seed=self.seed).fit(train)
            for i in held:
                image = images[int(i)]
                found = model.detect(image.maps, image.scale, image.size)
                hits = match_detections(found, image.boxes, image.labels)
                raw.append(found.scores)
                correct.append(hits)
                labels.append(found.labels)
                found_true += int(hits.sum())
                n_true += len(image.boxes)
            if progress is not None:
                progress((fold + 1) / (n_folds + 1))
        self.fit(images)
        scores = np.concatenate(raw) if raw else np.zeros(0)
        hits = np.concatenate(correct) if correct else np.zeros(0, bool)
        found_labels = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        self.heldout = HeldOut(scores, found_labels, hits)
        self._platt, self._platt_labels, self.calibration = platt_maps(
            scores, hits, found_labels, self.n_labels
        )
        calibrated = self.calibrate(scores, found_labels)
        self.thresholds = _thresholds(calibrated, hits, found_labels, self.n_labels, target_precision)
        self.estimates = {
            "cv_images": float(len(order)),
            "cv_boxes_found": float(found_true / n_true) if n_true else 0.0,
            "cv_precision_at_0_5": float(hits[calibrated >= 0.5].mean())
            if (calibrated >= 0.5).any()
            else 0.0,
            "platt_slope": self._platt[0],
            "platt_intercept": self._platt[1],
        }
        if progress is not None:
            progress(1.0)
        return self

    def calibrate(self, raw: np.ndarray, labels: np.ndarray, *, pooled: bool = False) -> NDArray[np.float64]:
        """Raw probabilities of boxes of ``labels`` to the calibrated chance that each box is
        right: each label's own Platt map where it had enough held-out boxes, the pooled one
        otherwise (or everywhere with ``pooled``). Unchanged before :meth:`fit_calibrated`."""
        raw = np.asarray(raw, np.float64)
        if self._platt is None or self._platt_labels is None:
            return raw
        if pooled:
            slope, intercept = np.full(raw.shape, self._platt[0]), np.full(raw.shape, self._platt[1])
        else:
            maps = self._platt_labels[np.asarray(labels, np.int64)]
            slope, intercept = maps[:, 0], maps[:, 1]
        clipped = np.clip(raw, 1e-6, 1 - 1e-6)
        logit = np.log(clipped / (1 - clipped))
        return np.asarray(1.0 / (1.0 + np.exp(-(slope * logit + intercept))))

    # -- detection --------------------------------------------------------------------------------

    def detect(
        self, maps: Maps, scale: tuple[float, float], size: tuple[int, int], *, calibrated: bool = True
    ) -> Detections:
        """Boxes on one image (its maps, input scale and original (w, h)); raw probabilities
        instead of calibrated scores with ``calibrated=False``."""
        if self._model is None:
            raise ValueError("the detector is not fitted")
        model = self._model
        candidates = windows(size, self.anchors)
        if not len(candidates):
            return Detections(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0))
        pooler = _Pooler(maps, scale, model.weights[: FEATURE_DIM - 2])
        out = pooler.projected(candidates, model.weights[FEATURE_DIM - 2 :]) + model.bias
        logits = out[:, : self.n_labels + 1]
        logits -= logits.max(1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(1, keepdims=True)
        boxes = _apply_offsets(candidates, out[:, self.n_labels + 1 :], size)
        kept_boxes: list[np.ndarray] = []
        kept_labels: list[np.ndarray] = []
        kept_scores: list[np.ndarray] = []
        for label in range(self.n_labels):
            p = proba[:, label + 1]
            idx = np.flatnonzero(p >= MIN_RAW_SCORE)
            if not idx.size:
                continue
            idx = idx[np.argsort(-p[idx], kind="stable")[:3000]]
            keep = idx[nms(boxes[idx], p[idx], NMS_IOU)]
            kept_boxes.append(boxes[keep])
            kept_labels.append(np.full(keep.size, label, np.int64))
            kept_scores.append(p[keep])
        if not kept_boxes:
            return Detections(np.zeros((0, 4)), np.zeros(0, np.int64), np.zeros(0))
        all_boxes = np.concatenate(kept_boxes)
        all_scores = np.concatenate(kept_scores)
        all_labels = np.concatenate(kept_labels)
        keep = nms(all_boxes, all_scores, CROSS_LABEL_NMS_IOU)[:MAX_DETECTIONS]
        scores = self.calibrate(all_scores[keep], all_labels[keep]) if calibrated else all_scores[keep]
        best = np.argsort(-scores, kind="stable")  # per-label maps may reorder labels' boxes
        return Detections(all_boxes[keep][best], all_labels[keep][best], scores[best])


def _offsets(windows_: np.ndarray, boxes: np.ndarray) -> NDArray[np.float64]:
    ww = np.maximum(windows_[:, 2] - windows_[:, 0], 1e-6)
    wh = np.maximum(windows_[:, 3] - windows_[:, 1], 1e-6)
    bw = np.maximum(boxes[:, 2] - boxes[:, 0], 1e-6)
    bh = np.maximum(boxes[:, 3] - boxes[:, 1], 1e-6)
    return np.stack(
        [
            ((boxes[:, 0] + boxes[:, 2]) - (windows_[:, 0] + windows_[:, 2])) / (2 * ww),
            ((boxes[:, 1] + boxes[:, 3]) - (windows_[:, 1] + windows_[:, 3])) / (2 * wh),
            np.log(bw / ww),
            np.log(bh / wh),
        ],
        1,
    )


def _apply_offsets(windows_: np.ndarray, offsets: np.ndarray, size: tuple[int, int]) -> NDArray[np.float64]:
    offsets = np.clip(offsets, [-0.5, -0.5, -0.7, -0.7], [0.5, 0.5, 0.7, 0.7])
    ww = windows_[:, 2] - windows_[:, 0]
    wh = windows_[:, 3] - windows_[:, 1]
    cx = (windows_[:, 0] + windows_[:, 2]) / 2 + offsets[:, 0] * ww
    cy = (windows_[:, 1] + windows_[:, 3]) / 2 + offsets[:, 1] * wh
    w = ww * np.exp(offsets[:, 2])
    h = wh * np.exp(offsets[:, 3])
    return _clip(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), size)


def _fit_linear(X: np.ndarray, y: np.ndarray, t: np.ndarray, pos: np.ndarray, n_labels: int) -> _Linear:
    """Logistic regression (background + labels) and ridge box offsets on standardised
    features, folded back into one linear map on raw features."""
    from sklearn.linear_model import LogisticRegression, Ridge

    mean = X.mean(0, dtype=np.float64)
    std = X.std(0, dtype=np.float64)
    # Channels almost silent on the labeled windows must not be blown up: a new image where they
    # fire would get huge scores. Spreads are floored at a tenth of the median channel's.
    std = np.maximum(std, max(1e-3, STD_FLOOR * float(np.median(std))))
    Z = (X - mean) / std
    # Few labeled images give few distinct boxes: learning in the leading principal components
    # of the windows (a linear map, so it folds into the weights too) generalises far better.
    basis = _principal_axes(Z, PCA_DIM) if PCA_DIM else np.eye(Z.shape[1])
    Z = Z @ basis
    # Background windows outnumber boxes; weigh each side equally in total.
    weights = np.where(y > 0, 1.0, max(1.0, float((y > 0).sum())) / max(1.0, float((y == 0).sum())))
    classifier = LogisticRegression(C=CLASSIFIER_C, max_iter=400, tol=1e-3)
    classifier.fit(Z, y, sample_weight=weights)
    coef = np.zeros((Z.shape[1], n_labels + 1))
    intercept = np.full(n_labels + 1, -1e3)  # a label with no training box is never predicted
    for k, cls in enumerate(classifier.classes_):
        column = k if classifier.coef_.shape[0] > 1 else 0
        if classifier.coef_.shape[0] == 1:  # binary: background vs one label
            coef[:, int(cls)] = classifier.coef_[0] * (1 if k == 1 else 0)
            intercept[int(cls)] = classifier.intercept_[0] * (1 if k == 1 else 0)
        else:
            coef[:, int(cls)] = classifier.coef_[column]
            intercept[int(cls)] = classifier.intercept_[column]
    regression = Ridge(alpha=RIDGE_ALPHA)
    if pos.any() and REGRESS:
        regression.fit(Z[pos], t[pos])
        reg_coef, reg_bias = regression.coef_.T, regression.intercept_
    else:
        reg_coef, reg_bias = np.zeros((Z.shape[1], 4)), np.zeros(4)
    coef_all = basis @ np.concatenate([coef, reg_coef], 1)
    bias_all = np.concatenate([intercept, reg_bias])
    raw_weights = coef_all / std[:, None]
    raw_bias = bias_all - mean @ raw_weights
    return _Linear(raw_weights, raw_bias)


def _principal_axes(Z: np.ndarray, k: int) -> NDArray[np.float64]:
    """The leading ``k`` principal axes (D, k) of the centred rows of ``Z``, scaled so that each
    component has unit variance."""
    k = min(k, Z.shape[0] - 1, Z.shape[1])
    _, singular, vt = np.linalg.svd(Z - Z.mean(0), full_matrices=False)
    scale = singular[:k] / math.sqrt(max(1, Z.shape[0] - 1))
    return np.asarray(vt[:k].T / np.maximum(scale, 1e-6))


def _fit_platt(raw: np.ndarray, correct: np.ndarray) -> tuple[float, float] | None:
    """Slope and intercept of P(correct) = sigmoid(a * logit(raw) + b); None without both
    outcomes to learn from or when the fit does not rise with the raw probability."""
    if raw.size < 4 or correct.all() or not correct.any():
        return None
    from sklearn.linear_model import LogisticRegression

    logit = np.log(np.clip(raw, 1e-6, 1 - 1e-6) / (1 - np.clip(raw, 1e-6, 1 - 1e-6)))
    model = LogisticRegression(C=10.0).fit(logit[:, None], correct.astype(int))
    slope = float(model.coef_[0, 0])
    if not math.isfinite(slope) or slope <= 0:
        return None
    return slope, float(model.intercept_[0])


def platt_maps(
    raw: np.ndarray, correct: np.ndarray, labels: np.ndarray, n_labels: int
) -> tuple[tuple[float, float], NDArray[np.float64], list[str]]:
    """Platt maps from held-out boxes (raw probability, right or not, label index): the pooled
    one, one per label ``(n_labels, 2)`` (slope, intercept), and per label whether its map is
    its own (``"label"``) or the pooled one (``"pooled"``: too few boxes, see
    :func:`_enough_to_calibrate`).

    Per label because labels differ: on BCCD the held-out WBC boxes were right at lower raw
    probabilities than RBC boxes, and one pooled map scored almost every WBC box under 0.5."""
    pooled = _fit_platt(raw, correct) or (1.0, 0.0)  # identity: nothing to learn from
    maps = np.tile(np.array(pooled, np.float64), (n_labels, 1))
    kinds = ["pooled"] * n_labels
    for label in range(n_labels):
        mine = labels == label
        own = _fit_platt(raw[mine], correct[mine]) if _enough_to_calibrate(correct[mine]) else None
        if own is not None:
            maps[label] = own
            kinds[label] = "label"
    return pooled, maps, kinds


def _enough_to_calibrate(correct: np.ndarray) -> bool:
    """Whether one label's held-out boxes can carry a Platt map of their own: at least
    :data:`LABEL_CALIBRATION_MIN_BOXES` of them, and both outcomes :data:`LABEL_CALIBRATION_MIN_EACH`
    times or more (two parameters from fewer would follow the noise)."""
    n_right = int(np.sum(correct))
    return (
        correct.size >= LABEL_CALIBRATION_MIN_BOXES
        and n_right >= LABEL_CALIBRATION_MIN_EACH
        and correct.size - n_right >= LABEL_CALIBRATION_MIN_EACH
    )


def wilson_lower_bound(hits: np.ndarray, n: np.ndarray, z: float) -> NDArray[np.float64]:
    """One-sided Wilson score lower bound of a proportion ``hits / n`` at ``z`` standard
    deviations (0: the proportion itself)."""
    n = np.asarray(n, np.float64)
    p = np.asarray(hits, np.float64) / np.maximum(n, 1)
    if z == 0:
        return np.asarray(p)
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return np.asarray((centre - spread) / (1 + z2 / n))


def _thresholds(
    scores: np.ndarray,
    correct: np.ndarray,
    labels: np.ndarray,
    n_labels: int,
    target: float,
    z: float | None = None,
) -> NDArray[np.float64]:
    """Per label: the lowest calibrated score from which the held-out boxes at or above it were
    right at least ``target`` of the time, by the Wilson lower bound at ``z`` (default
    :data:`THRESHOLD_Z`) of their precision (at least 5 boxes); 1.0 (nothing auto-accepted)
    when no such score exists. A label with too few held-out boxes takes the threshold of all
    labels.

    The bound, not the precision itself: the lowest score where the running precision still
    meets the target is where chance favoured the held-out boxes most, and the boxes accepted
    on new images fell short of the target (87% for 95% on BCCD, docs/autolabel-detection.md)."""
    z = THRESHOLD_Z if z is None else z

    def lowest(s: np.ndarray, c: np.ndarray) -> float | None:
        if s.size < 5:
            return None
        order = np.argsort(-s, kind="stable")
        n = np.arange(1, s.size + 1)
        bound = wilson_lower_bound(np.cumsum(c[order]), n, z)
        ok = np.flatnonzero((bound >= target) & (n >= 5))
        return float(s[order][ok[-1]]) if ok.size else 1.0

    pooled = lowest(scores, correct)
    out = np.empty(n_labels)
    for label in range(n_labels):
        mine = labels == label
        value = lowest(scores[mine], correct[mine])
        out[label] = value if value is not None else (pooled if pooled is not None else 1.0)
    return out
