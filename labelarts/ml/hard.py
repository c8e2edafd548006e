"""Hard examples: which auto-labeled samples a person should look at first, and why.

Each rule below sets one ModelArts ``hard_reasons`` code; a sample is hard when any rule fires. The rules and
their numbers are stated in :data:`REASONS` (the words a person sees in ``hard_details``) and in
``docs/hard-examples.md``.

Feature space for rules 2 and 3: features are centred on the labeled samples' mean and scaled to unit
length, and "distance" is the Euclidean distance between such vectors (the chord of the cosine angle, in
[0, 2]). Rule 30 uses standardised features instead (see ``_outlier_rule``). Neighbour searches go through
scikit-learn's ``NearestNeighbors`` (brute force in bounded-memory chunks), so no n x n matrix is ever held.

Score contract: ``hard`` is a bool flag per sample; ``coefficient`` is in [0, 1], higher means more likely
wrong: ``1 - confidence * 0.8 ** len(reasons)`` (the calibrated error probability ``1 - confidence`` for a
sample without reasons, raised for each reason).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.neighbors import NearestNeighbors

from labelarts.ml.augment import AUGMENTATION_DESCRIPTIONS, AUGMENTATION_NAMES
from labelarts.ml.detection_hard import (
    BOX_STAT_FLOORS,
    BOX_STAT_REASONS,
    BOX_STAT_WORDS,
    BOX_STAT_Z,
    FLIP_IOU,
    FLIP_MIN_SCORE,
)
from labelarts.ml.image_stats import STAT_NAMES, STAT_REASONS

__all__ = [
    "DETECTION_REASONS",
    "LOW_CONFIDENCE_MASS",
    "REASONS",
    "HardExampleDetector",
    "HardExamples",
    "HardReason",
]

LOW_CONFIDENCE = 1
CLUSTER = 2
UNLIKE_CLASS = 3
OUTLIER = 30

LOW_CONFIDENCE_MASS = 0.9
"""Rule 1 keeps to the least confident samples that hold 90% of the expected errors (1.0: no such cap)."""
CLUSTER_K = 5
"""Rule 2: how many nearest labeled samples vote (fewer when fewer are labeled)."""
CLASS_K = 3
"""Rule 3: distance to a class = mean distance to its 3 nearest labeled samples."""
CLASS_Z = 3.5
"""Rule 3 fires when (distance - class median) / pooled spread exceeds 3.5."""
CLASS_SPREAD_FLOOR = 0.01
"""Smallest pooled spread (1.4826 x MAD) for rule 3, in chord-distance units (distances lie in [0, 2])."""
STAT_Z = 3.5
"""Rules 5-10 fire when the robust z-score of a statistic exceeds 3.5."""
STAT_TRANSFORMS: dict[str, str] = {
    "resolution": "log",
    "aspect_ratio": "log",
    "brightness": "identity",
    "saturation": "identity",
    "colorfulness": "identity",
    "sharpness": "log1p",
}
"""How each statistic is compared: ratios and heavy-tailed figures on a log scale."""
STAT_SCALE_FLOORS: dict[str, float] = {
    "resolution": 0.1,
    "aspect_ratio": 0.1,
    "brightness": 5.0,
    "saturation": 5.0,
    "colorfulness": 3.0,
    "sharpness": 0.1,
}
"""Smallest spread (1.4826 x MAD) used per statistic, in its compared scale, so that near-constant labeled
statistics (every image 224 x 224, say) do not make every small difference an outlier."""
OUTLIER_K = 10
OUTLIER_TOP_FRACTION = 0.01
OUTLIER_Z = 3.5
OUTLIER_STD_FLOOR = 0.1
"""Rule 30 standardises each feature dimension by max(its std, 0.1 x the median dimension's std)."""
OUTLIER_REFERENCE_MAX = 5_000
"""Rule 30 compares every sample with at most this many reference samples (a fixed random subset)."""
COEFFICIENT_DECAY = 0.8
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class HardReason:
    """One ``hard_reasons`` code with the words shown in ModelArts ``hard_details`` (HardDetail)."""

    code: int
    alo_name: str
    reason: str
    suggestion: str

    def detail(self) -> dict[str, object]:
        """The ModelArts HardDetail object: ``id``, ``alo_name``, ``reason``, ``suggestion``."""
        return {
            "id": self.code,
            "alo_name": self.alo_name,
            "reason": self.reason,
            "suggestion": self.suggestion,
        }


_STAT_WORDS: dict[str, str] = {
    "resolution": "resolution (square root of width x height, compared on a log scale)",
    "aspect_ratio": "aspect ratio (width / height, compared on a log scale)",
    "brightness": "brightness (mean ITU-R BT.601 luma, 0-255)",
    "saturation": "saturation (mean HSV saturation, 0-255)",
    "colorfulness": "colorfulness (Hasler-Suesstrunk metric)",
    "sharpness": "sharpness (variance of the Laplacian at 256 px, compared as log(1 + v))",
}


def _reasons() -> dict[int, HardReason]:
    reasons = [
        HardReason(
            LOW_CONFIDENCE,
            "low_confidence",
            f"The confidence is low: the calibrated probability of the predicted label is below the "
            f"auto-accept threshold of that label for the target precision, and the sample is among the "
            f"least confident ones that together hold {LOW_CONFIDENCE_MASS:.0%} of the expected wrong labels "
            f"(the sum of 1 - confidence over the samples labeled together).",
            "Confirm or correct the label; labeling more samples of the confused classes raises confidence. "
            "(Auto-labeling tasks estimate the probability that the label is wrong from the calibrated "
            "confidence and the labels of the 10 nearest samples, and flag the most probably wrong until "
            "the flagged hold 90% of the expected wrong labels, never one estimated below 0.15: "
            "docs/hard-examples.md.)",
        ),
        HardReason(
            CLUSTER,
            "cluster_inconsistent",
            f"The clustering result based on the training dataset is inconsistent with the prediction: more "
            f"than half of the sample's {CLUSTER_K} nearest labeled samples (cosine distance of centred "
            f"features; fewer neighbours when fewer samples are labeled) carry one other label.",
            "Check the label against the similar labeled samples; if both are right, label more samples "
            "where the classes meet.",
        ),
        HardReason(
            UNLIKE_CLASS,
            "unlike_training_class",
            f"The prediction is greatly different from the training data of the same class: the mean "
            f"distance to the {CLASS_K} nearest labeled samples of the predicted class is far above the "
            f"same distance among that class's labeled samples (each left out in turn): robust z-score "
            f"(distance - class median) / (1.4826 x MAD, pooled over classes, at least "
            f"{CLASS_SPREAD_FLOOR}) above {CLASS_Z}.",
            "Check the label; if it is right, label this sample so that the class covers such samples.",
        ),
        HardReason(
            OUTLIER,
            "outlier",
            f"The data is predicted to be abnormal: its mean distance to its {OUTLIER_K} nearest samples "
            f"(labeled and unlabeled, standardised features) is in the top {OUTLIER_TOP_FRACTION:.0%} of "
            f"all samples and its robust z-score (distance - median) / (1.4826 x MAD) is above {OUTLIER_Z}.",
            "Check whether the sample belongs in the dataset at all (wrong file, corrupt, off-topic); remove "
            "it or label it by hand.",
        ),
    ]
    for name, code in STAT_REASONS.items():
        reasons.append(
            HardReason(
                code,
                f"{name}_offset",
                f"There is a large offset between the image {_STAT_WORDS[name]} and the labeled images: its "
                f"robust z-score |x - median| / max(1.4826 x MAD, {STAT_SCALE_FLOORS[name]}) is above "
                f"{STAT_Z}.",
                f"Check the label; label a few images with such {name.replace('_', ' ')} so that the model "
                f"learns them.",
            )
        )
    for code, name in AUGMENTATION_NAMES.items():
        reasons.append(
            HardReason(
                code,
                f"augment_{name.lower()}",
                f"The data enhancement result based on {name} is inconsistent with the prediction result of "
                f"the original image: the model predicts another label for a copy with "
                f"{AUGMENTATION_DESCRIPTIONS[code]}.",
                "Check the label; the prediction depends on details that should not matter, so label more "
                "samples like this one.",
            )
        )
    reasons.extend(_box_reasons().values())
    return {r.code: r for r in sorted(reasons, key=lambda r: r.code)}


def _box_reasons() -> dict[int, HardReason]:
    """Codes 0 and 11-18: object detection only (``labelarts.ml.detection_hard``)."""
    reasons = [
        HardReason(
            0,
            "no_object",
            "No object is identified: no box reached the score at which boxes are written.",
            "Label the objects in this image by hand; if it has none, it is a useful background example.",
        )
    ]
    for name, code in BOX_STAT_REASONS.items():
        reasons.append(
            HardReason(
                code,
                f"box_{name}_offset",
                f"There is a large offset between the {BOX_STAT_WORDS[name]} of this image's boxes and that "
                f"of the labeled images' boxes: robust z-score |x - median| / max(1.4826 x MAD, "
                f"{BOX_STAT_FLOORS[name]}) above {BOX_STAT_Z}.",
                "Check the boxes; label a few images like this one so that the model learns such boxes.",
            )
        )
    return {r.code: r for r in reasons}


def _detection_reasons() -> dict[int, HardReason]:
    """What the codes mean for object detection: 1, 20 and 22 in words about boxes."""
    flips = {20: ("fliplr", "mirrored left to right"), 22: ("flipud", "turned upside down")}
    out = dict(_box_reasons())
    out[LOW_CONFIDENCE] = HardReason(
        LOW_CONFIDENCE,
        "low_confidence",
        "The confidence is low: a box's calibrated score is below the auto-accept threshold of its label "
        "for the target precision (or inside confidence_scope when the task sets it).",
        "Confirm, correct or delete the uncertain boxes.",
    )
    for code, (name, words) in flips.items():
        out[code] = HardReason(
            code,
            f"augment_{name}",
            f"The data enhancement result based on {name} is inconsistent with the prediction result of the "
            f"original image: on a copy {words}, a box found here has no counterpart of its label at IoU >= "
            f"{FLIP_IOU} (scores down to {FLIP_MIN_SCORE}).",
            "Check the boxes; the detector depends on details that should not matter, so label more images "
            "like this one.",
        )
    return dict(sorted(out.items()))


REASONS: dict[int, HardReason] = _reasons()
"""Every implemented reason code; codes 0 and 11-18 concern detection boxes (4: video, not built)."""
DETECTION_REASONS: dict[int, HardReason] = _detection_reasons()
"""The codes an object-detection task writes, in words about boxes."""


@dataclass
class HardExamples:
    """Hard-example verdicts for n samples.

    ``hard``: bool (n,), any reason fired. ``coefficient``: float (n,) in [0, 1], higher = harder
    (``1 - confidence * 0.8 ** len(reasons)``). ``reasons``: sorted codes per sample, empty when not hard.
    """

    hard: NDArray[np.bool_]
    coefficient: NDArray[np.float64]
    reasons: list[list[int]] = field(default_factory=list)

    def details(self, i: int) -> dict[str, dict[str, object]]:
        """ModelArts ``hard_details`` of sample ``i``: ``str(code)`` -> HardDetail."""
        return {str(code): REASONS[code].detail() for code in self.reasons[i]}


_CHUNK_ROWS = 8192


def _centred_unit_rows(x: NDArray[np.float32], mean: NDArray[np.float32]) -> NDArray[np.float32]:
    """``(x - mean) / |x - mean|`` row by row (zero rows stay zero), in chunks to bound memory."""
    out = np.empty(x.shape, dtype=np.float32)
    for start in range(0, len(x), _CHUNK_ROWS):
        centred = x[start : start + _CHUNK_ROWS] - mean
        norms = np.linalg.norm(centred, axis=1, keepdims=True)
        np.divide(centred, norms, out=centred, where=norms > 0)
        centred[(norms == 0).ravel()] = 0.0
        out[start : start + _CHUNK_ROWS] = centred
    return out


def _robust_center_scale(values: NDArray[np.float64]) -> tuple[float, float]:
    """Median and 1.4826 x MAD of the finite values (NaN, NaN when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return float("nan"), float("nan")
    median = float(np.median(finite))
    return median, _MAD_TO_SIGMA * float(np.median(np.abs(finite - median)))


def _transform_stats(stats: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.array(stats, dtype=np.float64, copy=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        for j, name in enumerate(STAT_NAMES):
            kind = STAT_TRANSFORMS[name]
            if kind == "log":
                col = out[:, j]
                out[:, j] = np.where(col > 0, np.log(np.where(col > 0, col, 1.0)), np.nan)
            elif kind == "log1p":
                out[:, j] = np.log1p(np.maximum(out[:, j], 0.0))
    return out


def _batches(n: int) -> Iterator[slice]:
    for start in range(0, n, _CHUNK_ROWS):
        yield slice(start, min(n, start + _CHUNK_ROWS))


def _features(name: str, value: np.ndarray, n_cols: int | None = None) -> NDArray[np.float32]:
    """Features as float32 (ample for distances, half the memory of float64), checked to be finite
    batch by batch; a float32 array (or memmap) is used as it is, not copied."""
    arr = _as_matrix(name, value, n_cols, dtype=np.float32)
    for rows in _batches(len(arr)):
        if not np.all(np.isfinite(arr[rows])):
            raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def _as_matrix(name: str, value: object, n_cols: int | None = None, dtype: type = np.float64) -> NDArray[Any]:
    try:
        arr: NDArray[Any] = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array") from exc
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {arr.shape}")
    if n_cols is not None and arr.shape[1] != n_cols:
        raise ValueError(f"{name} must have {n_cols} columns, got {arr.shape[1]}")
    return arr


class HardExampleDetector:
    """Flags hard examples among samples being auto-labeled, with ModelArts reason codes.

    ``fit`` learns from the labeled samples (features, labels, optional image statistics); ``detect`` judges
    the samples being labeled from their features, calibrated probabilities, the per-class auto-accept
    thresholds and, where available, image statistics and predictions of perturbed copies.
    """

    def __init__(self, *, low_confidence_mass: float = LOW_CONFIDENCE_MASS) -> None:
        if not 0.0 < low_confidence_mass <= 1.0:
            raise ValueError(f"low_confidence_mass must be in (0, 1], got {low_confidence_mass}")
        self.low_confidence_mass = low_confidence_mass
        self._n_classes = 0
        self._mean: NDArray[np.float32] | None = None
        self._x_train: NDArray[np.float32] = np.zeros((0, 0), dtype=np.float32)
        self._y_train: NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self._cluster_index: NearestNeighbors | None = None
        self._class_index: dict[int, NearestNeighbors] = {}
        self._class_k: dict[int, int] = {}
        self._class_center: dict[int, float] = {}
        self._class_spread = float("nan")
        self._stat_center: NDArray[np.float64] | None = None
        self._stat_scale: NDArray[np.float64] | None = None

    def _embed(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        assert self._mean is not None
        return _centred_unit_rows(x, self._mean)

    def fit(
        self,
        X_train: np.ndarray,
        y_train: np.ndarray,
        *,
        n_classes: int,
        stats_train: np.ndarray | None = None,
    ) -> HardExampleDetector:
        """Learn the labeled samples: features (n, d), class indices (n,) in [0, n_classes), stats (n, 6)."""
        x = _features("X_train", X_train)
        y = np.asarray(y_train)
        if x.shape[0] == 0:
            raise ValueError("X_train has no samples")
        if y.shape != (x.shape[0],):
            raise ValueError(f"y_train must have shape ({x.shape[0]},), got {y.shape}")
        if n_classes < 1:
            raise ValueError("n_classes must be at least 1")
        # Whole-number floats are accepted as class indices, as CalibratedHead accepts them.
        whole = np.issubdtype(y.dtype, np.integer) or (
            np.issubdtype(y.dtype, np.floating) and bool(np.all(np.mod(y, 1) == 0))
        )
        if not whole or y.min() < 0 or y.max() >= n_classes:
            raise ValueError(f"y_train must hold class indices in [0, {n_classes})")
        self._n_classes = n_classes
        self._mean = x.mean(axis=0, dtype=np.float64).astype(np.float32)
        z = self._embed(x)
        self._x_train = x
        self._y_train = y.astype(np.intp)
        self._cluster_index = NearestNeighbors(algorithm="brute").fit(z)
        self._fit_classes(z, self._y_train)
        if stats_train is None:
            self._stat_center = self._stat_scale = None
        else:
            stats = _as_matrix("stats_train", stats_train, len(STAT_NAMES))
            if stats.shape[0] != x.shape[0]:
                raise ValueError("stats_train must have one row per training sample")
            transformed = _transform_stats(stats)
            centers, scales = [], []
            for j, name in enumerate(STAT_NAMES):
                center, scale = _robust_center_scale(transformed[:, j])
                centers.append(center)
                scales.append(max(scale, STAT_SCALE_FLOORS[name]) if np.isfinite(scale) else np.nan)
            self._stat_center, self._stat_scale = np.array(centers), np.array(scales)
        return self

    def _fit_classes(self, z: NDArray[np.float32], y: NDArray[np.intp]) -> None:
        """Rule 3: per class, a neighbour index and the centre of its leave-one-out distances.

        A labeled sample's leave-one-out distance is its mean distance to the ``min(3, n_c - 1)`` nearest
        other labeled samples of its class. Each class has its own centre (median); the spread is pooled over
        all classes (median-centred per class), because a class may have only a handful of labeled samples.
        """
        self._class_index, self._class_k, self._class_center = {}, {}, {}
        residuals: list[NDArray[np.float64]] = []
        pooled: list[NDArray[np.float64]] = []
        for c in range(self._n_classes):
            zc = z[y == c]
            if len(zc) == 0:
                continue
            index = NearestNeighbors(algorithm="brute").fit(zc)
            self._class_index[c] = index
            if len(zc) < 2:
                self._class_k[c] = 1
                continue
            k = min(CLASS_K, len(zc) - 1)
            self._class_k[c] = k
            # The nearest neighbour of each labeled sample is itself: drop that column (leave-one-out).
            dist, _ = index.kneighbors(zc, n_neighbors=k + 1)
            loo = dist[:, 1:].mean(axis=1)
            center = float(np.median(loo))
            self._class_center[c] = center
            pooled.append(loo)
            residuals.append(loo - center)
        if not residuals:
            self._class_spread = float("nan")  # no class has two labeled samples: rule 3 is off
            return
        _, spread = _robust_center_scale(np.concatenate(residuals))
        self._class_spread = max(spread, CLASS_SPREAD_FLOOR)
        # A class with a single labeled sample has no distances of its own: centre it on all classes' median.
        fallback = float(np.median(np.concatenate(pooled)))
        for c in self._class_index:
            self._class_center.setdefault(c, fallback)

    def detect(
        self,
        X: np.ndarray,
        proba: np.ndarray,
        *,
        thresholds: np.ndarray,
        stats: np.ndarray | None = None,
        augmented: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None,
        p_wrong: np.ndarray | None = None,
    ) -> HardExamples:
        """Judge n samples being auto-labeled.

        ``X``: features (n, d). ``proba``: calibrated probabilities (n, C); the prediction is the arg max.
        ``thresholds``: per-class auto-accept thresholds (C,). ``stats``: image statistics (n, 6) or None
        (rules 5-10 off; they also need ``stats_train``); NaN marks a statistic that was not measured.
        ``augmented``: reason code (19-29) -> (indices into X that were checked, predicted class of the
        perturbed copy of each). ``p_wrong``: the estimated probability that each prediction is
        wrong (:func:`labelarts.ml.error_rank.estimate_p_wrong`); when given, rule 1 flags by
        :func:`labelarts.ml.error_rank.flag_by_error_mass` and the coefficient starts from it
        instead of ``1 - confidence``.
        """
        if self._mean is None or self._cluster_index is None:
            raise RuntimeError("HardExampleDetector.detect called before fit")
        x = _features("X", X, self._mean.shape[0])
        n = x.shape[0]
        p = _as_matrix("proba", proba, self._n_classes)
        if p.shape[0] != n:
            raise ValueError("proba must have one row per sample of X")
        thr = np.asarray(thresholds, dtype=np.float64)
        if thr.shape != (self._n_classes,):
            raise ValueError(f"thresholds must have shape ({self._n_classes},), got {thr.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError("proba must be finite")
        predicted = p.argmax(axis=1)
        confidence = p[np.arange(n), predicted]
        # The cheap rules first: they also check their inputs before the neighbour searches start.
        fired: dict[int, NDArray[np.bool_]] = {}
        error = 1.0 - np.clip(confidence, 0.0, 1.0)
        if p_wrong is None:
            fired[LOW_CONFIDENCE] = self._low_confidence_rule(confidence, thr[predicted])
        else:
            from labelarts.ml.error_rank import flag_by_error_mass

            error = np.asarray(p_wrong, dtype=np.float64)
            if error.shape != (n,) or not np.all(np.isfinite(error)):
                raise ValueError("p_wrong must be finite, one value per sample of X")
            error = np.clip(error, 0.0, 1.0)
            fired[LOW_CONFIDENCE] = flag_by_error_mass(error)
        if stats is not None:
            fired.update(self._stat_rules(stats, n))
        if augmented is not None:
            fired.update(self._augmentation_rules(augmented, predicted))
        if n == 0:
            return HardExamples(np.zeros(0, dtype=bool), np.zeros(0), [])
        # Rules 2 and 3 batch by batch: the unit-length copy of the features is never whole.
        fired[CLUSTER] = np.zeros(n, dtype=bool)
        fired[UNLIKE_CLASS] = np.zeros(n, dtype=bool)
        for rows in _batches(n):
            z = self._embed(x[rows])
            fired[CLUSTER][rows] = self._cluster_rule(z, predicted[rows])
            fired[UNLIKE_CLASS][rows] = self._class_rule(z, predicted[rows])
        fired[OUTLIER] = self._outlier_rule(x)
        codes = sorted(fired)
        table = np.stack([fired[c] for c in codes], axis=1)
        reasons = [[codes[j] for j in np.flatnonzero(row)] for row in table]
        counts = table.sum(axis=1)
        coefficient = np.clip(1.0 - (1.0 - error) * COEFFICIENT_DECAY**counts, 0.0, 1.0)
        return HardExamples(hard=counts > 0, coefficient=coefficient, reasons=reasons)

    def _low_confidence_rule(
        self, confidence: NDArray[np.float64], threshold: NDArray[np.float64]
    ) -> NDArray[np.bool_]:
        """Rule 1: not auto-accepted, and among the least confident samples holding most expected errors.

        With calibrated scores the expected number of wrong labels is ``sum(1 - confidence)``. The cap is the
        confidence at which the least confident samples first hold ``low_confidence_mass`` of that sum: flags
        above it would mostly be right labels (below the threshold for the target precision, yet likely
        right), which would dilute the flags' precision.
        """
        not_accepted = confidence < threshold
        error = 1.0 - np.clip(confidence, 0.0, 1.0)
        total = float(error.sum())
        if self.low_confidence_mass >= 1.0 or total <= 0.0:
            return not_accepted
        order = np.argsort(confidence, kind="stable")
        cumulative = np.cumsum(error[order])
        last = min(int(np.searchsorted(cumulative, self.low_confidence_mass * total)), len(order) - 1)
        cap = confidence[order[last]]
        flagged: NDArray[np.bool_] = not_accepted & (confidence <= cap)
        return flagged

    def _cluster_rule(self, z: NDArray[np.float32], predicted: NDArray[np.intp]) -> NDArray[np.bool_]:
        """Rule 2: more than half of the k nearest labeled samples carry one label, not the predicted one."""
        assert self._cluster_index is not None
        k = min(CLUSTER_K, len(self._y_train))
        _, ind = self._cluster_index.kneighbors(z, n_neighbors=k)
        labels = self._y_train[ind]
        votes = np.zeros((len(z), self._n_classes), dtype=np.intp)
        np.add.at(votes, (np.repeat(np.arange(len(z)), k), labels.ravel()), 1)
        top = votes.argmax(axis=1)
        flagged: NDArray[np.bool_] = (votes[np.arange(len(z)), top] > k / 2) & (top != predicted)
        return flagged

    def _class_rule(self, z: NDArray[np.float32], predicted: NDArray[np.intp]) -> NDArray[np.bool_]:
        """Rule 3: robust z-score of the distance to the predicted class's labeled samples above 3.5."""
        out = np.zeros(len(z), dtype=bool)
        if not np.isfinite(self._class_spread):
            return out
        for c, index in self._class_index.items():
            rows = np.flatnonzero(predicted == c)
            if rows.size == 0:
                continue
            dist, _ = index.kneighbors(z[rows], n_neighbors=self._class_k[c])
            out[rows] = (dist.mean(axis=1) - self._class_center[c]) / self._class_spread > CLASS_Z
        return out

    def _outlier_rule(self, x: NDArray[np.float32]) -> NDArray[np.bool_]:
        """Rule 30: k-NN distance over labeled and unlabeled samples in the top 1% and robust z above 3.5.

        Unlike rules 2 and 3 this works on standardised features (each dimension centred and divided by its
        standard deviation, floored at 0.1 x the median dimension's): unit-length features lose the feature
        norm, which is what sets off-topic inputs apart, and there a group of them sits as close together as
        any class.
        """
        n_train = len(self._x_train)
        total = n_train + len(x)
        k = min(OUTLIER_K, total - 1)
        if k < 1:
            return np.zeros(len(x), dtype=bool)

        def rows_of(indices: NDArray[np.intp]) -> NDArray[np.float32]:
            """Rows of the labeled samples followed by ``x``, without concatenating them."""
            from_train = indices < n_train
            out = np.empty((len(indices), x.shape[1]), dtype=np.float32)
            out[from_train] = self._x_train[indices[from_train]]
            out[~from_train] = x[indices[~from_train] - n_train]
            return out

        if total > OUTLIER_REFERENCE_MAX:
            reference = np.sort(np.random.default_rng(0).choice(total, OUTLIER_REFERENCE_MAX, replace=False))
        else:
            reference = np.arange(total)
        ref = rows_of(reference).astype(np.float64)
        mean = ref.mean(axis=0)
        std = ref.std(axis=0)
        std = np.maximum(std, max(OUTLIER_STD_FLOOR * float(np.median(std)), 1e-12))

        def standardised(rows: NDArray[np.float32]) -> NDArray[np.float32]:
            out: NDArray[np.float32] = ((rows - mean) / std).astype(np.float32)
            return out

        position = np.full(total, -1, dtype=np.intp)
        position[reference] = np.arange(len(reference))
        index = NearestNeighbors(algorithm="brute").fit(standardised(rows_of(reference)))
        score = np.empty(total)
        # Batch by batch over the labeled samples, then x: no standardised copy of everything.
        for rows in _batches(total):
            batch = standardised(rows_of(np.arange(rows.start, rows.stop)))
            dist, ind = index.kneighbors(batch, n_neighbors=k + 1)
            # Leave each sample out of its own neighbours; one outside the reference drops its
            # farthest instead.
            keep = ind != position[rows, None]
            keep[keep.all(axis=1), -1] = False
            score[rows] = dist[keep].reshape(len(batch), k).mean(axis=1)
        median, spread = _robust_center_scale(score)
        top = score >= np.quantile(score, 1.0 - OUTLIER_TOP_FRACTION)
        robust_z = (score - median) / spread if spread > 0 else np.where(score > median, np.inf, 0.0)
        flagged: NDArray[np.bool_] = top & (robust_z > OUTLIER_Z)
        return flagged[len(self._x_train) :]

    def _stat_rules(self, stats: NDArray[np.float64], n: int) -> dict[int, NDArray[np.bool_]]:
        """Rules 5-10: robust z-score of each image statistic against the labeled images above 3.5."""
        s = _as_matrix("stats", stats, len(STAT_NAMES))
        if s.shape[0] != n:
            raise ValueError("stats must have one row per sample of X")
        if self._stat_center is None or self._stat_scale is None:
            raise ValueError("stats given to detect but no stats_train given to fit")
        transformed = _transform_stats(s)
        with np.errstate(invalid="ignore"):
            robust_z = np.abs(transformed - self._stat_center) / self._stat_scale
            out: dict[int, NDArray[np.bool_]] = {}
            for j, name in enumerate(STAT_NAMES):
                # NaN (not measured, or no labeled value) compares False: the rule does not fire.
                out[STAT_REASONS[name]] = robust_z[:, j] > STAT_Z
        return out

    def _augmentation_rules(
        self,
        augmented: Mapping[int, tuple[NDArray[np.integer], NDArray[np.integer]]],
        predicted: NDArray[np.intp],
    ) -> dict[int, NDArray[np.bool_]]:
        """Rules 19-29: the perturbed copy's predicted class differs from the original's."""
        n = len(predicted)
        out: dict[int, NDArray[np.bool_]] = {}
        for code, (indices, perturbed) in augmented.items():
            if code not in AUGMENTATION_NAMES:
                raise ValueError(f"augmented reason code must be in 19-29, got {code}")
            idx = np.asarray(indices)
            pred = np.asarray(perturbed)
            if idx.ndim != 1 or pred.shape != idx.shape:
                raise ValueError(f"augmented[{code}] must be two 1-D arrays of the same length")
            flags = np.zeros(n, dtype=bool)
            if idx.size == 0:
                out[code] = flags
                continue
            if not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n:
                raise ValueError(f"augmented[{code}] indices must be integers in [0, {n})")
            if not np.issubdtype(pred.dtype, np.integer):
                raise ValueError(f"augmented[{code}] predictions must be class indices")
            flags[idx] = pred != predicted[idx]
            out[code] = flags
        return out
