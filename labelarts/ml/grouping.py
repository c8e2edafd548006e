"""Auto grouping: cluster images by pretrained features, optionally by brightness,
colorfulness and blurriness (docs/auto-grouping.md).

The features (EfficientNet-Lite, 1,280 numbers) are L2-normalised, centred and reduced by PCA
to at most :data:`PCA_DIMS` dimensions, then scaled so that their total variance is 1. Each
statistic asked for (``image_brightness``: mean luma; ``image_colorfulness``: Hasler-Suesstrunk;
``ambiguity``: log of the Laplacian variance, low for blurry images) is a robust z-score
(median, 1.4826 x MAD) appended as one column of weight :data:`STAT_WEIGHT`: one statistic
weighs as much as all of the picture's content together, so asking for one visibly splits
the groups along it. k-means (k-means++, :data:`N_INIT` starts, fixed seed) makes the groups;
they are numbered by size, largest first.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["N_INIT", "PCA_DIMS", "STAT_WEIGHT", "group_features", "group_images"]

PCA_DIMS = 64
STAT_WEIGHT = 1.0
N_INIT = 10
# Columns of labelarts.ml.image_stats.STAT_NAMES used by each option.
_BRIGHTNESS, _COLORFULNESS, _SHARPNESS = 2, 4, 5


def _robust_z(values: NDArray[np.float64]) -> NDArray[np.float64]:
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros_like(values)
    median = float(np.median(values[finite]))
    spread = 1.4826 * float(np.median(np.abs(values[finite] - median)))
    if spread <= 1e-9:
        spread = float(np.std(values[finite])) or 1.0
    z = (values - median) / spread
    return np.where(finite, np.clip(z, -5.0, 5.0), 0.0)


def group_features(
    features: NDArray[np.float32],
    stats: NDArray[np.float64] | None,
    *,
    brightness: bool = False,
    colorfulness: bool = False,
    ambiguity: bool = False,
) -> NDArray[np.float64]:
    """The matrix k-means runs on (see the module docstring)."""
    x = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.where(norms > 0, norms, 1.0)
    x -= x.mean(axis=0, keepdims=True)
    dims = min(PCA_DIMS, x.shape[0], x.shape[1])
    if dims > 0 and x.shape[0] > 1:
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        x = x @ vt[:dims].T
    total = float(np.sum(np.var(x, axis=0)))
    if total > 0:
        x /= np.sqrt(total)
    columns = [x]
    wanted = [(brightness, _BRIGHTNESS), (colorfulness, _COLORFULNESS), (ambiguity, _SHARPNESS)]
    for on, column in wanted:
        if not on:
            continue
        if stats is None:
            raise ValueError("image statistics are needed for brightness, colorfulness or ambiguity")
        values = stats[:, column].astype(np.float64)
        if column == _SHARPNESS:
            values = np.log1p(np.maximum(values, 0.0))
        columns.append(STAT_WEIGHT * _robust_z(values)[:, None])
    return np.hstack(columns)


def group_images(
    features: NDArray[np.float32],
    n_clusters: int,
    *,
    stats: NDArray[np.float64] | None = None,
    brightness: bool = False,
    colorfulness: bool = False,
    ambiguity: bool = False,
    seed: int = 0,
) -> NDArray[np.int64]:
    """A group (0 .. n_clusters - 1, 0 the largest) per row of ``features``."""
    from sklearn.cluster import KMeans

    n = len(features)
    if n_clusters < 1 or n_clusters > n:
        raise ValueError(f"{n_clusters} groups need at least as many images; there are {n}")
    x = group_features(features, stats, brightness=brightness, colorfulness=colorfulness, ambiguity=ambiguity)
    labels = KMeans(n_clusters=n_clusters, n_init=N_INIT, random_state=seed).fit_predict(x)
    sizes = np.bincount(labels, minlength=n_clusters)
    # Largest first; ties by first appearance, so the numbering is stable for one input.
    first = np.array([np.flatnonzero(labels == k)[0] if sizes[k] else n for k in range(n_clusters)])
    order = np.lexsort((first, -sizes))
    rank = np.empty(n_clusters, dtype=np.int64)
    rank[order] = np.arange(n_clusters)
    out: NDArray[np.int64] = rank[labels]
    return out
