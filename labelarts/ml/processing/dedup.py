"""SimDeduplication (``sys_data_selection``): one sample kept per group of duplicates.

Two samples are duplicates when any of these holds (``t`` = ``simlarity_threshold``, 0.9):

1. their stored SHA-256 is equal (exact copies);
2. their 64-bit perceptual hashes (pHash, ``imagehash``) are similar: ``1 - hamming / 64 > t``
   (at most 6 differing bits at 0.9). Each image is also hashed mirrored and upside down, so
   flipped copies match; re-encodes, resizes and small colour or brightness changes keep the
   hash;
3. their feature rows (the embedder's L2-normalised rows, EfficientNet-Lite in the service)
   have a cosine similarity above ``embedding_threshold`` (a LabelArts extra, default ``t``):
   this is what catches crops, shifts and added content, which move a pHash too far.

Duplicates form groups by union-find (so a chain a~b~c is one group). Each group keeps one
sample: labeled first, then the larger image (pixels), then the earlier ``sample_time``, then
the lower id. The others are deleted (2) with "duplicate of <id> (similarity s)", where ``s``
is their own similarity to the kept sample (1.00 for identical content).

Memory per sample: its id, hash, three pHashes, size, time and one float16 feature row
(2.5 KB at 1,280 dimensions); the file bytes are dropped as soon as they are hashed.
Near-duplicate hashes are found by pigeonhole buckets (any hashes within 7 bits share one of
their 8 bytes), features by chunked matrix products.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from labelarts.ml.processing.base import (
    DELETED,
    UNMODIFIED,
    Embedder,
    ProcessingInput,
    ProcessingOutcome,
)
from labelarts.ml.processing.params import CommonParams, common_fields, parse_bool, parse_float
from labelarts.ml.processing.similarity import (
    HASH_BITS,
    GrowingRows,
    UnionFind,
    hamming_pairs,
    perceptual_hashes,
    popcount64,
    similar_row_pairs,
)

__all__ = ["EMBED_BATCH", "SimDeduplication", "SimDeduplicationParams", "threshold_param"]

_NAME = "SimDeduplication"
EMBED_BATCH = 64


def threshold_param(raw: Mapping[str, object], default: float) -> float:
    """``simlarity_threshold`` (the reference's spelling), or ``similarity_threshold``."""
    key = (
        "simlarity_threshold" if raw.get("simlarity_threshold") not in (None, "") else "similarity_threshold"
    )
    return parse_float(raw, key, default, low=0.0, high=1.0)


@dataclass(frozen=True, kw_only=True)
class SimDeduplicationParams(CommonParams):
    simlarity_threshold: float = 0.9
    embedding_threshold: float = 0.9
    """Cosine similarity of features above which two samples are duplicates (extra)."""
    use_embeddings: bool = True
    """False: exact and pHash duplicates only (extra; much faster, misses crops)."""

    @property
    def max_hash_bits(self) -> int:
        """The most differing pHash bits that still count as a duplicate: ``1 - d/64 > t``."""
        return max(-1, math.ceil(HASH_BITS * (1.0 - self.simlarity_threshold)) - 1)


class SimDeduplication:
    name = _NAME
    kind: Literal["set"] = "set"

    def parse_params(self, raw: Mapping[str, object]) -> SimDeduplicationParams:
        threshold = threshold_param(raw, 0.9)
        return SimDeduplicationParams(
            **common_fields(raw),
            simlarity_threshold=threshold,
            embedding_threshold=parse_float(raw, "embedding_threshold", threshold, low=0.0, high=1.0),
            use_embeddings=parse_bool(raw, "use_embeddings", True),
        )

    def select(
        self,
        items: Iterable[ProcessingInput],
        params: object,
        embed: Embedder,
        rng: np.random.Generator,
    ) -> Iterator[ProcessingOutcome]:
        assert isinstance(params, SimDeduplicationParams)
        state = _State()
        pending: list[ProcessingInput] = []
        pending_index: list[int] = []
        for item in items:
            if state.add(item) and params.use_embeddings:
                pending.append(item)
                pending_index.append(len(state.ids) - 1)
                if len(pending) == EMBED_BATCH:
                    state.add_features(pending_index, pending, embed)
                    pending, pending_index = [], []
        if pending:
            state.add_features(pending_index, pending, embed)
        yield from state.outcomes(params)


class _State:
    """Compact per-sample state kept while streaming."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.labeled: list[bool] = []
        self.times: list[int] = []
        self.pixels: list[int] = []
        self.exact: list[int] = []  # index of the first sample with the same SHA-256, or -1
        self.first_by_sha: dict[str, int] = {}
        self.hashes: list[tuple[int, int, int]] = []
        self.hash_of: list[int] = []  # row in self.hashes, or -1 (undecodable or exact copy)
        self.features: GrowingRows | None = None
        self.feature_of: dict[int, int] = {}  # sample index -> feature row

    def add(self, item: ProcessingInput) -> bool:
        """Record ``item``; True when it needs features (decodable and not an exact copy)."""
        index = len(self.ids)
        self.ids.append(item.sample_id)
        self.labeled.append(item.labeled)
        self.times.append(item.sample_time)
        first = self.first_by_sha.setdefault(item.sha256, index)
        self.exact.append(first if first != index else -1)
        if first != index:
            self.pixels.append(self.pixels[first])
            self.hash_of.append(-1)
            return False
        result = perceptual_hashes(item.data)
        if result is None:
            self.pixels.append(0)
            self.hash_of.append(-1)
            return False
        hashes, pixels = result
        self.pixels.append(pixels)
        self.hash_of.append(len(self.hashes))
        self.hashes.append(hashes)
        return True

    def add_features(self, indices: list[int], batch: list[ProcessingInput], embed: Embedder) -> None:
        rows = np.asarray(embed(batch), dtype=np.float32)
        if rows.ndim != 2 or len(rows) != len(batch):
            raise ValueError(f"the embedder answered shape {rows.shape} for {len(batch)} inputs")
        if self.features is None:
            self.features = GrowingRows(rows.shape[1], np.float16)
        valid = np.isfinite(rows).all(axis=1)
        start = self.features.count
        for offset, index in enumerate(np.asarray(indices)[valid].tolist()):
            self.feature_of[index] = start + offset
        self.features.append(rows[valid].astype(np.float16))

    def outcomes(self, params: SimDeduplicationParams) -> Iterator[ProcessingOutcome]:
        n = len(self.ids)
        groups = UnionFind(n)
        for index, first in enumerate(self.exact):
            if first >= 0:
                groups.union(index, first)
        sample_of_hash = np.array([i for i, h in enumerate(self.hash_of) if h >= 0], dtype=np.int64)
        hash_table = np.array(self.hashes, dtype=np.uint64).reshape(-1, 3)
        if params.max_hash_bits >= 0 and len(hash_table) > 1:
            # Upright hashes against upright, mirrored and flipped ones (rows k, k+m, k+2m).
            m = len(hash_table)
            stacked = np.concatenate([hash_table[:, 0], hash_table[:, 1], hash_table[:, 2]])
            for a, b in hamming_pairs(stacked, params.max_hash_bits):
                sa, sb = sample_of_hash[a % m], sample_of_hash[b % m]
                for x, y in zip(sa.tolist(), sb.tolist(), strict=True):
                    if x != y:
                        groups.union(x, y)
        sample_of_row = np.empty(len(self.feature_of), dtype=np.int64)
        for index, row in self.feature_of.items():
            sample_of_row[row] = index
        if self.features is not None and self.features.count > 1 and params.embedding_threshold < 1.0:
            for a, b, _ in similar_row_pairs(self.features.rows, params.embedding_threshold):
                for x, y in zip(sample_of_row[a].tolist(), sample_of_row[b].tolist(), strict=True):
                    groups.union(x, y)
        roots = groups.roots()
        keeper: dict[int, int] = {}
        sizes: dict[int, int] = {}
        for index in range(n):
            root = int(roots[index])
            sizes[root] = sizes.get(root, 0) + 1
            best = keeper.get(root)
            if best is None or self._rank(index) < self._rank(best):
                keeper[root] = index
        for index in range(n):
            root = int(roots[index])
            kept = keeper[root]
            if kept == index:
                removed = sizes[root] - 1
                text = (
                    f"{_NAME}: kept, {removed} duplicate{'s' if removed != 1 else ''} removed"
                    if removed
                    else (f"{_NAME}: unique")
                )
                yield ProcessingOutcome(self.ids[index], UNMODIFIED, (text,))
            else:
                similarity = self._similarity(index, kept)
                yield ProcessingOutcome(
                    self.ids[index],
                    DELETED,
                    (f"{_NAME}: duplicate of {self.ids[kept]} (similarity {similarity:.2f})",),
                )

    def _rank(self, index: int) -> tuple[bool, int, int, str]:
        return (not self.labeled[index], -self.pixels[index], self.times[index], self.ids[index])

    def _similarity(self, a: int, b: int) -> float:
        """The best of the pHash and feature similarities between two samples (1 for identical)."""
        root_a = a if self.exact[a] < 0 else self.exact[a]
        root_b = b if self.exact[b] < 0 else self.exact[b]
        if root_a == root_b:
            return 1.0
        best = 0.0
        ha, hb = self.hash_of[root_a], self.hash_of[root_b]
        if ha >= 0 and hb >= 0:
            upright = np.array([self.hashes[ha][0]], dtype=np.uint64)
            others = np.array(self.hashes[hb], dtype=np.uint64)
            bits = int(popcount64(np.bitwise_xor(upright, others)).min())
            best = 1.0 - bits / HASH_BITS
        fa, fb = self.feature_of.get(root_a), self.feature_of.get(root_b)
        if self.features is not None and fa is not None and fb is not None:
            rows = self.features.rows
            cosine = float(np.dot(rows[fa].astype(np.float32), rows[fb].astype(np.float32)))
            best = max(best, cosine)
        return best
