"""Building blocks of the whole-set operators: union-find, perceptual hashes, chunked similarity."""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterable, Iterator

import imagehash
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps
from sklearn.decomposition import PCA

from labelarts.ml.processing.base import Embedder, ProcessingInput

__all__ = [
    "HASH_BITS",
    "GrowingRows",
    "Reducer",
    "UnionFind",
    "check_rows",
    "embedded_batches",
    "hamming_pairs",
    "perceptual_hashes",
    "popcount64",
    "similar_row_pairs",
]

HASH_BITS = 64
_HASH_SIDE = 32  # imagehash.phash resizes to 32x32 before its DCT
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    RuntimeError,
    struct.error,
    Image.DecompressionBombError,
)
_BYTE_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


class UnionFind:
    """Disjoint sets over 0..n-1 with path halving and union by size."""

    def __init__(self, n: int) -> None:
        self.parent = np.arange(n, dtype=np.int64)
        self.size = np.ones(n, dtype=np.int64)

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]

    def roots(self) -> NDArray[np.int64]:
        return np.array([self.find(i) for i in range(len(self.parent))], dtype=np.int64)


class GrowingRows:
    """An (n, dim) array that grows by doubling, for per-item state kept while streaming."""

    def __init__(self, dim: int, dtype: type[np.generic]) -> None:
        self._data = np.zeros((64, dim), dtype=dtype)
        self.count = 0

    def append(self, rows: NDArray[np.generic]) -> None:
        need = self.count + len(rows)
        if need > len(self._data):
            grown = np.zeros((max(need, 2 * len(self._data)), self._data.shape[1]), dtype=self._data.dtype)
            grown[: self.count] = self._data[: self.count]
            self._data = grown
        self._data[self.count : need] = rows
        self.count = need

    @property
    def rows(self) -> NDArray[np.generic]:
        return self._data[: self.count]


def popcount64(values: NDArray[np.uint64]) -> NDArray[np.uint8]:
    """Bits set in each 64-bit value."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(values).astype(np.uint8)  # NumPy >= 2.0
    as_bytes = np.ascontiguousarray(values).view(np.uint8).reshape(*values.shape, 8)
    counts: NDArray[np.uint8] = _BYTE_POPCOUNT[as_bytes].sum(axis=-1, dtype=np.uint8)
    return counts


def _bits_to_int(hash_value: imagehash.ImageHash) -> int:
    bits = np.asarray(hash_value.hash, dtype=bool).ravel()
    return int(np.packbits(bits).view(">u8")[0])


def perceptual_hashes(data: bytes) -> tuple[tuple[int, int, int], int] | None:
    """The 64-bit pHash of the image upright, of its mirror image and of it upside down, and its
    pixel count; None when the bytes do not decode.

    JPEGs decode in draft mode (the decoder's 1/2 to 1/8 scaling) to no less than 64 px a side:
    the hash looks at a 32x32 copy, so this changes nothing that matters and is much faster.
    Mirroring the 32x32 copy equals hashing the mirrored image (the resampling filter is
    symmetric), so the two extra hashes cost two small DCTs.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if image.format == "JPEG":
                image.draft("L", (2 * _HASH_SIDE, 2 * _HASH_SIDE))
            image.load()
        upright = ImageOps.exif_transpose(image)
        assert upright is not None
        if upright.mode not in ("L", "RGB"):
            upright = upright.convert("RGBA") if "A" in upright.mode else upright.convert("RGB")
        small = upright.convert("L").resize((_HASH_SIDE, _HASH_SIDE), Image.Resampling.LANCZOS)
    except _DECODE_ERRORS:
        return None
    hashes = (
        _bits_to_int(imagehash.phash(small)),
        _bits_to_int(imagehash.phash(ImageOps.mirror(small))),
        _bits_to_int(imagehash.phash(ImageOps.flip(small))),
    )
    return hashes, width * height


def hamming_pairs(
    hashes: NDArray[np.uint64], max_bits: int
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Index pairs ``(i, j)``, ``i < j``, of hashes at most ``max_bits`` bits apart, in chunks.

    With ``max_bits`` below 8, two such hashes agree on at least one of their 8 bytes
    (pigeonhole), so only hashes sharing a byte value at the same position are compared: a
    pair may come up more than once. From 8 bits on, every pair is compared (chunked).
    """
    n = len(hashes)
    if n < 2:
        return
    if max_bits >= 8:
        order = np.arange(n, dtype=np.int64)
        yield from _pairs_within(order, hashes, max_bits)
        return
    as_bytes = np.ascontiguousarray(hashes).view(np.uint8).reshape(n, 8)
    for position in range(8):
        column = as_bytes[:, position]
        order = np.argsort(column, kind="stable").astype(np.int64)
        values = column[order]
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        ends = np.r_[starts[1:], n]
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            if end - start > 1:
                yield from _pairs_within(order[start:end], hashes, max_bits)


def _pairs_within(
    members: NDArray[np.int64], hashes: NDArray[np.uint64], max_bits: int, chunk: int = 2048
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    values = hashes[members]
    count = len(members)
    for start in range(0, count, chunk):
        block = values[start : start + chunk]
        # The block against itself and every later block.
        for other in range(start, count, chunk):
            distance = popcount64(np.bitwise_xor(block[:, None], values[None, other : other + chunk]))
            rows, cols = np.nonzero(distance <= max_bits)
            keep = other + cols > start + rows
            if keep.any():
                a = members[start + rows[keep]]
                b = members[other + cols[keep]]
                yield np.minimum(a, b), np.maximum(a, b)


def similar_row_pairs(
    rows: NDArray[np.generic], threshold: float, chunk: int = 1024
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32]]]:
    """Index pairs ``(i, j)``, ``i < j``, whose rows' dot product exceeds ``threshold``, with it.

    Rows are L2-normalised, so the dot product is the cosine similarity. Blocks of ``chunk``
    rows are multiplied in float32; memory stays at a few ``chunk`` x ``chunk`` blocks.
    """
    n = len(rows)
    for i in range(0, n, chunk):
        left = np.asarray(rows[i : i + chunk], dtype=np.float32)
        for j in range(i, n, chunk):
            right = np.asarray(rows[j : j + chunk], dtype=np.float32)
            block = left @ right.T
            a, b = np.nonzero(block > threshold)
            keep = (j + b) > (i + a)
            if keep.any():
                yield (i + a[keep]).astype(np.int64), (j + b[keep]).astype(np.int64), block[a[keep], b[keep]]


def embedded_batches(
    items: Iterable[ProcessingInput], embed: Embedder, batch_size: int = 64
) -> Iterator[tuple[list[ProcessingInput], NDArray[np.float32], NDArray[np.bool_]]]:
    """Batches of inputs with their feature rows and which rows are valid (finite).

    Only one batch of inputs (and so of file bytes) is held at a time.
    """
    for batch in _batches(items, batch_size):
        rows = check_rows(embed(batch), len(batch))
        valid: NDArray[np.bool_] = np.asarray(np.isfinite(rows).all(axis=1), dtype=np.bool_)
        yield batch, rows, valid


def check_rows(rows: object, count: int) -> NDArray[np.float32]:
    """The embedder's answer as float32 ``(count, dim)``; ValueError for another shape."""
    array = np.asarray(rows, dtype=np.float32)
    if array.ndim != 2 or len(array) != count:
        raise ValueError(f"the embedder answered shape {array.shape} for {count} inputs")
    return array


def _batches(items: Iterable[ProcessingInput], size: int) -> Iterator[list[ProcessingInput]]:
    batch: list[ProcessingInput] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class Reducer:
    """PCA to at most ``dim`` dimensions, fitted on the first ``fit_rows`` rows seen.

    Rows are buffered until ``fit_rows`` have arrived (or :meth:`finish` is called), then the
    PCA is fitted and every row is stored reduced (float32): memory is ``fit_rows`` full rows
    plus ``dim`` numbers per sample, whatever the number of samples.
    """

    def __init__(self, dim: int = 64, fit_rows: int = 2048, seed: int = 0) -> None:
        self.dim = dim
        self.fit_rows = fit_rows
        self.seed = seed
        self._buffer: list[NDArray[np.float32]] = []
        self._pca: PCA | None = None
        self._rows: GrowingRows | None = None

    def add(self, rows: NDArray[np.float32]) -> None:
        """Add a batch of rows, float ``(k, dim)``."""
        if len(rows) == 0:
            return
        if self._pca is None:
            self._buffer.append(np.asarray(rows, dtype=np.float32))
            if sum(len(b) for b in self._buffer) >= self.fit_rows:
                self._fit()
        else:
            self._store(self._pca.transform(rows).astype(np.float32))

    def _fit(self) -> None:
        full = np.concatenate(self._buffer).astype(np.float32)
        self._buffer = []
        components = max(1, min(self.dim, full.shape[0], full.shape[1]))
        self._pca = PCA(n_components=components, svd_solver="full", random_state=self.seed).fit(full)
        self._store(self._pca.transform(full).astype(np.float32))

    def _store(self, rows: NDArray[np.float32]) -> None:
        if self._rows is None:
            self._rows = GrowingRows(rows.shape[1], np.float32)
        self._rows.append(rows)

    def finish(self) -> NDArray[np.float32]:
        """Every row added, reduced: float32 ``(count, k)`` (``(0, 0)`` when none)."""
        if self._pca is None and self._buffer:
            self._fit()
        if self._rows is None:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray(self._rows.rows, dtype=np.float32)
