"""Semi-supervised building blocks for the ``accurate`` mode: a sparse kNN graph over labeled and
unlabeled samples, label spreading on it (Zhou et al., 2004, "Learning with local and global
consistency"), and the extension of the spread scores to any sample through its nearest
graph nodes.

Everything is sparse: the graph keeps ``n_neighbors`` edges per sample (``n * n_neighbors``
entries, never an ``n x n`` matrix), neighbours are found by scikit-learn's ``NearestNeighbors``
in bounded-memory chunks, and one spreading step is one sparse product.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

__all__ = ["SpreadingGraph", "label_spreading"]

FloatArray = NDArray[np.float64]

# Neighbour search cost grows with the dimension; beyond this many dimensions the features are
# first projected by PCA, which keeps the neighbourhoods (the leading components carry the
# cluster structure) and keeps 100k samples well under a minute on two cores.
GRAPH_DIMENSIONS = 128
_PCA_SAMPLE = 5000


class SpreadingGraph:
    """A kNN graph over ``nodes`` (labeled and unlabeled samples, already scaled) for label spreading.

    Embedding: rows centred on the nodes' mean and projected on the top ``GRAPH_DIMENSIONS``
    principal components when wider (fitted on at most 5,000 random rows); distance is
    Euclidean in that space. (Cosine distance was no better on the benchmark data and
    loses the geometry of low-dimensional features.) Edge weights ``exp(-d^2 / sigma^2)`` for
    the ``n_neighbors`` nearest neighbours, symmetrised by the larger of ``W[i, j]`` and
    ``W[j, i]``; ``sigma`` is the median distance to the farthest kept neighbour.
    :attr:`affinity` is the normalised ``D^-1/2 W D^-1/2``.
    """

    def __init__(self, nodes: np.ndarray, *, n_neighbors: int = 10, seed: int = 0) -> None:
        Z = np.asarray(nodes, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[0] < 2:
            raise ValueError(f"a spreading graph needs a 2-d array with at least 2 rows, got shape {Z.shape}")
        if n_neighbors < 1:
            raise ValueError(f"n_neighbors must be at least 1, got {n_neighbors}")
        n = Z.shape[0]
        self.n_neighbors = min(n_neighbors, n - 1)
        self._mean = Z.mean(axis=0)
        self._pca: PCA | None = None
        if Z.shape[1] > GRAPH_DIMENSIONS and n > GRAPH_DIMENSIONS:
            # The components from a random subset are as good for finding neighbours and keep
            # the cost flat beyond a few thousand samples.
            rng = np.random.default_rng(seed)
            rows = rng.choice(n, size=min(n, _PCA_SAMPLE), replace=False)
            self._pca = PCA(n_components=GRAPH_DIMENSIONS, random_state=seed).fit(Z[rows] - self._mean)
        E = self._embed(Z)
        self._index = NearestNeighbors(n_neighbors=self.n_neighbors + 1).fit(E)
        dist, idx = self._index.kneighbors(E)
        # Each node's neighbourhood including itself, for extending scores to nodes (see extend).
        self._node_dist = dist[:, : self.n_neighbors]
        self._node_idx = idx[:, : self.n_neighbors]
        # Drop each node's match with itself (first column, unless duplicates came first).
        own = idx == np.arange(n)[:, None]
        drop = np.where(own.any(axis=1), own.argmax(axis=1), self.n_neighbors)
        keep = np.ones_like(own)
        keep[np.arange(n), drop] = False
        dist = dist[keep].reshape(n, self.n_neighbors)
        idx = idx[keep].reshape(n, self.n_neighbors)
        sigma = float(np.median(dist[:, -1]))
        self.sigma = sigma if sigma > 1e-12 else 1.0
        weights = np.exp(-((dist / self.sigma) ** 2))
        rows = np.repeat(np.arange(n), self.n_neighbors)
        W = sp.csr_matrix((weights.ravel(), (rows, idx.ravel())), shape=(n, n))
        W = W.maximum(W.T).tocsr()
        degree = np.asarray(W.sum(axis=1)).ravel()
        inv_sqrt = np.where(degree > 0, 1.0 / np.sqrt(np.maximum(degree, 1e-300)), 0.0)
        D = sp.diags(inv_sqrt)
        self.affinity: sp.csr_matrix = sp.csr_matrix(D @ W @ D)
        self.n_nodes = n

    def _embed(self, X: FloatArray) -> FloatArray:
        Z = X - self._mean
        if self._pca is not None:
            Z = self._pca.transform(Z)
        return np.asarray(Z, dtype=np.float64)

    def spread(
        self,
        seeds: np.ndarray,
        seed_labels: np.ndarray,
        *,
        n_classes: int,
        alpha: float = 0.9,
        n_iter: int = 30,
    ) -> FloatArray:
        """Label spreading from ``seeds`` (node indices) with ``seed_labels``; see :func:`label_spreading`."""
        return label_spreading(
            self.affinity, seeds, seed_labels, n_classes=n_classes, alpha=alpha, n_iter=n_iter
        )

    def extend(self, node_scores: np.ndarray, X: np.ndarray) -> FloatArray:
        """Scores for any rows ``X``: the kernel-weighted mean of ``node_scores`` over each row's
        ``n_neighbors`` nearest nodes (a row that is itself a node counts itself, at weight 1)."""
        F = np.asarray(node_scores, dtype=np.float64)
        if F.ndim != 2 or F.shape[0] != self.n_nodes:
            raise ValueError(f"node_scores must be ({self.n_nodes}, C), got {F.shape}")
        rows = np.asarray(X, dtype=np.float64)
        if rows.shape[0] == 0:
            return np.zeros((0, F.shape[1]))
        dist, idx = self._index.kneighbors(self._embed(rows), n_neighbors=self.n_neighbors)
        return self._weighted_mean(F, dist, idx)

    def extend_nodes(self, node_scores: np.ndarray, nodes: np.ndarray) -> FloatArray:
        """:meth:`extend` for graph nodes (by index), from the neighbourhoods found when building."""
        F = np.asarray(node_scores, dtype=np.float64)
        if F.ndim != 2 or F.shape[0] != self.n_nodes:
            raise ValueError(f"node_scores must be ({self.n_nodes}, C), got {F.shape}")
        which = np.asarray(nodes, dtype=np.int64)
        return self._weighted_mean(F, self._node_dist[which], self._node_idx[which])

    def _weighted_mean(self, F: FloatArray, dist: FloatArray, idx: np.ndarray) -> FloatArray:
        weights = np.exp(-((dist / self.sigma) ** 2))
        out = np.einsum("nk,nkc->nc", weights, F[idx])
        total = out.sum(axis=1, keepdims=True)
        extended: FloatArray = np.where(total > 1e-300, out / np.maximum(total, 1e-300), 1.0 / F.shape[1])
        return extended


def label_spreading(
    affinity: sp.csr_matrix,
    seeds: np.ndarray,
    seed_labels: np.ndarray,
    *,
    n_classes: int,
    alpha: float = 0.9,
    n_iter: int = 30,
) -> FloatArray:
    """Class scores for every node of a normalised ``affinity`` graph spread from the labeled ``seeds``.

    Iterates ``F <- alpha * S F + (1 - alpha) * Y`` (``Y`` one-hot on the seeds) ``n_iter`` times and
    returns ``F`` with rows normalised to sum to 1: a score in [0, 1] per class, higher = more of
    the class's label mass reached the node. These are not calibrated probabilities; a node that
    no label reached gets the uniform row.
    """
    n = affinity.shape[0]
    seed_idx = np.asarray(seeds, dtype=np.int64)
    labels = np.asarray(seed_labels, dtype=np.int64)
    if seed_idx.shape != labels.shape or seed_idx.ndim != 1:
        raise ValueError("seeds and seed_labels must be 1-d arrays of the same length")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be within (0, 1), got {alpha}")
    Y = np.zeros((n, n_classes), dtype=np.float64)
    Y[seed_idx, labels] = 1.0
    F = Y.copy()
    for _ in range(n_iter):
        F = alpha * (affinity @ F) + (1.0 - alpha) * Y
    total = F.sum(axis=1, keepdims=True)
    return np.where(total > 1e-300, F / np.maximum(total, 1e-300), 1.0 / n_classes)
