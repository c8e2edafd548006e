"""Which samples to label next: the proposals behind ``collect_key_sample``.

Two rules, both on the encoder's features of the samples not yet labeled:

* **Typicality (cold start; TypiClust, Hacohen, Dekel and Weinshall, ICML 2022).** With few or
  no labels, the samples that teach a model most are the *typical* ones of the regions no label
  covers yet. The features are embedded (:func:`embed`), clustered with k-means into ``K =
  min(n_labeled + budget, MAX_CLUSTERS)`` clusters, and one sample is taken at a time: from the
  cluster with the fewest labeled (or already proposed) samples, the largest such cluster first,
  the unlabeled sample of highest *typicality*, ``1 / mean distance to its k nearest neighbours
  in the cluster`` (``k = min(TYPICALITY_K, cluster size - 1)``): the centre of the densest part
  of the cluster, not an outlier.
* **Uncertainty with diversity (after a round; Zhdanov 2019, "Diverse mini-batch active
  learning").** Once the model has predictions, the ``PREFILTER x budget`` samples of smallest
  margin between the two most probable classes are the candidates; weighted k-means (weight
  ``1 - margin``) splits them into ``budget`` clusters, and each cluster proposes the candidate
  nearest its centre. The smallest margins alone would often be near-duplicates of one confused
  pair of classes; the clusters spread the labels over the confusions.

Both return indices into the rows given, most useful first, and are deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

__all__ = [
    "EMBED_DIMS",
    "MAX_CLUSTERS",
    "PREFILTER",
    "TYPICALITY_K",
    "embed",
    "propose",
    "typical_samples",
    "uncertain_diverse_samples",
]

EMBED_DIMS = 64
"""Features wider than this are projected on their first 64 principal components (fitted on at
most ``_PCA_ROWS`` random rows) before clustering."""
MAX_CLUSTERS = 500
"""At most this many k-means clusters (TypiClust's own cap); beyond it clusters are reused."""
TYPICALITY_K = 20
"""Typicality: mean distance to the 20 nearest neighbours within the cluster (fewer in small ones)."""
PREFILTER = 10
"""Uncertainty with diversity: ``10 x budget`` least certain samples are the candidates."""
_PCA_ROWS = 5_000
_MINIBATCH_ABOVE = 20_000  # rows: MiniBatchKMeans beyond this, full k-means below
_SEVERAL_STARTS_BELOW = 1_000_000  # rows x clusters: full k-means from 4 starts below this


def embed(X: np.ndarray, *, seed: int = 0) -> NDArray[np.float32]:
    """Features for clustering and neighbour searches: centred, each row scaled to unit length
    (cosine geometry, which suits normalised sentence and image embeddings and is harmless for
    others), then projected on at most :data:`EMBED_DIMS` principal components (fitted on at most
    5,000 random rows). Batch by batch: no float64 copy of a large ``X`` is made."""
    if np.ndim(X) != 2 or np.shape(X)[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {np.shape(X)}")
    n, d = np.shape(X)
    mean = np.zeros(d)
    for rows in _row_batches(n):
        part = np.asarray(X[rows], dtype=np.float64)
        if not np.all(np.isfinite(part)):
            raise ValueError("X contains NaN or infinite values")
        mean += part.sum(axis=0)
    mean /= n

    def unit(rows: slice | NDArray[np.int64]) -> NDArray[np.float64]:
        centred = np.asarray(X[rows], dtype=np.float64) - mean
        norms = np.linalg.norm(centred, axis=1, keepdims=True)
        out: NDArray[np.float64] = np.divide(centred, norms, out=np.zeros_like(centred), where=norms > 0)
        return out

    dims = min(EMBED_DIMS, n, d)
    pca: PCA | None = None
    if d > EMBED_DIMS and dims >= 2:
        sample = np.sort(np.random.default_rng(seed).choice(n, min(_PCA_ROWS, n), replace=False))
        pca = PCA(n_components=dims, random_state=seed).fit(unit(sample))
    out = np.empty((n, dims if pca is not None else d), dtype=np.float32)
    for rows in _row_batches(n):
        part = unit(rows)
        out[rows] = pca.transform(part) if pca is not None else part
    return out


def _row_batches(n: int, size: int = 8192) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _kmeans(z: np.ndarray, k: int, seed: int, weights: np.ndarray | None = None) -> NDArray[np.int64]:
    if k <= 1:
        return np.zeros(z.shape[0], dtype=np.int64)
    if z.shape[0] > _MINIBATCH_ABOVE:
        model: KMeans | MiniBatchKMeans = MiniBatchKMeans(
            n_clusters=k, random_state=seed, n_init=3, batch_size=4096
        )
    else:
        # One k-means++ start can settle on a split of one true cluster; a few starts (the
        # lowest inertia wins) are cheap while rows x clusters is small.
        starts = 4 if z.shape[0] * k <= _SEVERAL_STARTS_BELOW else 1
        model = KMeans(n_clusters=k, random_state=seed, n_init=starts)
    return np.asarray(model.fit_predict(z, sample_weight=weights), dtype=np.int64)


def _typicality(z: np.ndarray) -> NDArray[np.float64]:
    """``1 / mean distance to the k nearest other members`` for each row of one cluster."""
    n = z.shape[0]
    if n < 2:
        return np.ones(n)
    k = min(TYPICALITY_K, n - 1)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(z).kneighbors(z)
    mean = dist[:, 1:].mean(axis=1)  # the first neighbour is the row itself
    return np.asarray(1.0 / (mean + 1e-12), dtype=np.float64)


def typical_samples(
    X: np.ndarray, budget: int, *, labeled: np.ndarray | None = None, seed: int = 0
) -> NDArray[np.int64]:
    """TypiClust: ``budget`` indices of rows of ``X`` not in ``labeled`` (a bool mask or indices of
    rows already labeled), most useful first (see the module doc)."""
    n = int(np.shape(X)[0])
    is_labeled = _labeled_mask(labeled, n)
    budget = min(int(budget), int((~is_labeled).sum()))
    if budget <= 0:
        return np.zeros(0, dtype=np.int64)
    z = embed(X, seed=seed)
    k = max(1, min(int(is_labeled.sum()) + budget, MAX_CLUSTERS, n))
    cluster = _kmeans(z, k, seed)
    covered = np.bincount(cluster[is_labeled], minlength=k).astype(np.int64)
    sizes = np.bincount(cluster, minlength=k)
    # Per cluster, its unlabeled rows from most to least typical (computed on first use).
    queues: dict[int, list[int]] = {}
    chosen: list[int] = []
    available = np.bincount(cluster[~is_labeled], minlength=k)
    while len(chosen) < budget:
        # Fewest labels first, then the largest cluster, then the lowest cluster number.
        open_clusters = np.flatnonzero(available > 0)
        order = np.lexsort((open_clusters, -sizes[open_clusters], covered[open_clusters]))
        c = int(open_clusters[order[0]])
        if c not in queues:
            members = np.flatnonzero(cluster == c)
            typicality = _typicality(z[members])
            ranked = members[np.argsort(-typicality, kind="stable")]
            queues[c] = [int(i) for i in ranked if not is_labeled[i]]
        pick = queues[c].pop(0)
        chosen.append(pick)
        covered[c] += 1
        available[c] -= 1
    return np.array(chosen, dtype=np.int64)


def uncertain_diverse_samples(
    X: np.ndarray, proba: np.ndarray, budget: int, *, seed: int = 0
) -> NDArray[np.int64]:
    """``budget`` indices of rows of ``X`` (unlabeled samples with predicted class probabilities
    ``proba``), least certain and spread out (see the module doc), least certain first."""
    z_all = np.asarray(X)
    p = np.asarray(proba, dtype=np.float64)
    n = int(z_all.shape[0]) if z_all.ndim == 2 else -1
    if p.ndim != 2 or p.shape[0] != n or p.shape[1] < 2:
        raise ValueError(f"proba must be (n, C) with C >= 2 and one row per row of X, got {p.shape}")
    budget = min(int(budget), n)
    if budget <= 0:
        return np.zeros(0, dtype=np.int64)
    top_two = np.sort(p, axis=1)[:, -2:]
    margin = top_two[:, 1] - top_two[:, 0]
    candidates = np.argsort(margin, kind="stable")[: min(n, PREFILTER * budget)]
    z = embed(z_all, seed=seed)[candidates]
    cluster = _kmeans(z, min(budget, len(candidates)), seed, weights=1.0 - margin[candidates] + 1e-6)
    chosen: list[int] = []
    for c in np.unique(cluster):
        members = np.flatnonzero(cluster == c)
        centre = z[members].mean(axis=0)
        nearest = members[int(np.argmin(np.linalg.norm(z[members] - centre, axis=1)))]
        chosen.append(int(candidates[nearest]))
    picked = np.array(chosen, dtype=np.int64)
    if picked.size < budget:  # fewer non-empty clusters than asked: fill by margin
        rest = [int(i) for i in candidates if i not in set(chosen)]
        picked = np.concatenate([picked, np.array(rest[: budget - picked.size], dtype=np.int64)])
    return picked[np.argsort(margin[picked], kind="stable")]


def propose(
    X_unlabeled: np.ndarray,
    budget: int,
    *,
    X_labeled: np.ndarray | None = None,
    proba: np.ndarray | None = None,
    seed: int = 0,
) -> NDArray[np.int64]:
    """The service's rule: uncertainty with diversity when predictions ``proba`` of the unlabeled
    samples exist (after a round), typicality otherwise (labeled samples, if any, count as covering
    their clusters). Indices into ``X_unlabeled``, most useful first."""
    if proba is not None:
        return uncertain_diverse_samples(X_unlabeled, proba, budget, seed=seed)
    x_unl = np.asarray(X_unlabeled, dtype=np.float64)
    if X_labeled is None or np.shape(X_labeled)[0] == 0:
        return typical_samples(x_unl, budget, seed=seed)
    x_lab = np.asarray(X_labeled, dtype=np.float64)
    both = np.concatenate([x_lab, x_unl])
    picked = typical_samples(both, budget, labeled=np.arange(x_lab.shape[0]), seed=seed)
    return np.asarray(picked - x_lab.shape[0], dtype=np.int64)


def _labeled_mask(labeled: np.ndarray | None, n: int) -> NDArray[np.bool_]:
    if labeled is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(labeled)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise ValueError(f"labeled mask must have shape ({n},), got {arr.shape}")
        return arr.copy()
    mask = np.zeros(n, dtype=bool)
    if arr.size:
        if not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= n:
            raise ValueError(f"labeled indices must be integers within [0, {n})")
        mask[arr] = True
    return mask
