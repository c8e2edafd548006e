"""The per-sample feature cache (one row per sample and encoder, so a second task over the same
dataset only encodes the samples added since) and the feature matrix a task reads from it.

Memory: the matrix is the one copy of the features a task holds. It is allocated once, as
float32, and filled page by page straight from the cache; past ``memmap_bytes`` it lives in a
temporary file (``numpy.memmap``) that the operating system pages in and out, so a million
1,280-dimension images (4.9 GiB) do not have to fit in memory beside everything else.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import insert, select

from labelarts.clock import now_ms
from labelarts.storage.db import Database
from labelarts.storage.db.models import Sample, SampleFeature

_CHUNK = 500
# Cache rows fetched per page when a task reads its features (a few MB at 1,280 dimensions).
_PAGE_ROWS = 2000
# Rows moved per step when unusable rows are squeezed out of the matrix.
_COMPACT_ROWS = 8192
STATS_WIDTH = 6
T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def allocate_features(rows: int, dim: int, *, memmap_bytes: int, scratch_dir: Path) -> NDArray[np.float32]:
    """An uninitialised float32 ``(rows, dim)`` matrix: in memory up to ``memmap_bytes``, else a
    ``numpy.memmap`` over a temporary file in ``scratch_dir``.

    The file is unlinked at once (the mapping keeps it alive), so nothing is left behind when the
    matrix is freed or the process dies.
    """
    if rows * dim * 4 <= memmap_bytes or rows == 0 or dim == 0:
        return np.empty((rows, dim), dtype=np.float32)
    scratch_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="autolabel-features-", suffix=".f32", dir=scratch_dir)
    try:
        os.close(fd)
        matrix: NDArray[np.float32] = np.memmap(name, dtype=np.float32, mode="w+", shape=(rows, dim))
    finally:
        os.unlink(name)
    return matrix


@dataclass
class FeatureMatrix:
    """Features of a task's labeled samples, then of its targets, usable rows only.

    ``X``: float32 ``(n_labeled_ok + n_targets_ok, dim)`` (an ndarray or a memmap), labeled rows
    first, each part in the order the task gave the ids. ``labeled_ok``/``targets_ok``: per id
    given, whether it has a usable vector (a cache row whose file could be decoded).
    ``stats``: image statistics ``(len(X), 6)`` (NaN where not measured), or None.
    """

    X: NDArray[np.float32]
    labeled_ok: NDArray[np.bool_]
    targets_ok: NDArray[np.bool_]
    stats: NDArray[np.float64] | None

    @property
    def n_labeled(self) -> int:
        return int(self.labeled_ok.sum())

    @property
    def labeled(self) -> NDArray[np.float32]:
        return self.X[: self.n_labeled]

    @property
    def targets(self) -> NDArray[np.float32]:
        return self.X[self.n_labeled :]


class FeatureCache:
    def __init__(self, db: Database) -> None:
        self._db = db

    def cached_ids(self, encoder: str, dataset_id: str) -> set[str]:
        """Ids of the dataset's samples that have a cache row under ``encoder`` (usable or not)."""
        with self._db.session() as session:
            stmt = (
                select(SampleFeature.sample_id)
                .where(SampleFeature.encoder == encoder, SampleFeature.dataset_id == dataset_id)
                .execution_options(yield_per=20 * _PAGE_ROWS)
            )
            return set(session.execute(stmt).scalars())

    def read_matrix(
        self,
        encoder: str,
        dataset_id: str,
        labeled_ids: Sequence[str],
        target_ids: Sequence[str],
        dim: int,
        *,
        with_stats: bool,
        memmap_bytes: int,
        scratch_dir: Path,
    ) -> FeatureMatrix:
        """The features of ``labeled_ids`` then ``target_ids`` from the cache, in one float32 matrix.

        The dataset's cache rows are streamed in pages of ``_PAGE_ROWS`` and written straight
        into the preallocated matrix (:func:`allocate_features`); rows without a usable vector
        are then squeezed out in place. Nothing but the matrix grows with the dataset.
        """
        n_labeled, total = len(labeled_ids), len(labeled_ids) + len(target_ids)
        position = {sample_id: i for i, sample_id in enumerate(labeled_ids)}
        position.update((sample_id, n_labeled + j) for j, sample_id in enumerate(target_ids))
        X = allocate_features(total, dim, memmap_bytes=memmap_bytes, scratch_dir=scratch_dir)
        stats = np.full((total, STATS_WIDTH), np.nan) if with_stats else None
        usable = np.zeros(total, dtype=bool)
        stmt = (
            select(SampleFeature.sample_id, SampleFeature.vector, SampleFeature.stats)
            .where(SampleFeature.encoder == encoder, SampleFeature.dataset_id == dataset_id)
            .execution_options(yield_per=_PAGE_ROWS)
        )
        width = 2 * dim  # float16 bytes per vector
        with self._db.session() as session:
            for page in session.execute(stmt).partitions():
                rows: list[int] = []
                blobs: list[bytes] = []
                for sample_id, vector, stat in page:
                    i = position.get(sample_id)
                    if i is None or vector is None or len(vector) != width:
                        continue  # not asked for, not decodable, or from another encoder version
                    rows.append(i)
                    blobs.append(vector)
                    if stats is not None and stat is not None and len(stat) == STATS_WIDTH:
                        stats[i] = stat
                if rows:
                    X[rows] = np.frombuffer(b"".join(blobs), dtype="<f2").reshape(len(rows), dim)
                    usable[rows] = True
        del position
        n_usable = _compact(X, usable)
        if stats is not None:
            stats = stats[usable]
        return FeatureMatrix(
            X=X[:n_usable],
            labeled_ok=usable[:n_labeled].copy(),
            targets_ok=usable[n_labeled:].copy(),
            stats=stats,
        )

    def store(
        self,
        encoder: str,
        dataset_id: str,
        rows: Sequence[tuple[str, np.ndarray | None, np.ndarray | None]],
    ) -> None:
        """Insert (sample_id, vector, stats) rows; a row already there (a concurrent task) wins."""
        now = now_ms()
        with self._db.session() as session:
            existing = set(
                session.execute(
                    select(SampleFeature.sample_id).where(
                        SampleFeature.encoder == encoder,
                        SampleFeature.sample_id.in_([r[0] for r in rows]),
                    )
                ).scalars()
            )
            values = []
            for sample_id, vector, stats in rows:
                if sample_id in existing:
                    continue
                usable = vector is not None and bool(np.all(np.isfinite(vector)))
                values.append(
                    {
                        "sample_id": sample_id,
                        "encoder": encoder,
                        "dataset_id": dataset_id,
                        # float16 halves the cache; the head standardises features anyway.
                        "vector": _half(vector) if usable else None,
                        "stats": None if stats is None else [float(v) for v in stats],
                        "create_time": now,
                    }
                )
            if values:
                # Only samples that still exist: a person may delete some while the task runs.
                alive = set(
                    session.execute(
                        select(Sample.id).where(Sample.id.in_([v["sample_id"] for v in values]))
                    ).scalars()
                )
                values = [v for v in values if v["sample_id"] in alive]
            if values:
                session.execute(insert(SampleFeature), values)


def _compact(X: NDArray[np.float32], keep: NDArray[np.bool_]) -> int:
    """Move the rows ``keep`` marks to the front of ``X``, in order, in place; return their count.

    Each destination row is at or before its source row and blocks go front to back, so a block
    never overwrites a row a later block still has to read.
    """
    sources = np.flatnonzero(keep)
    if sources.size == keep.size:
        return int(sources.size)
    for start in range(0, sources.size, _COMPACT_ROWS):
        block = sources[start : start + _COMPACT_ROWS]
        X[start : start + block.size] = X[block]  # X[block] is a copy of the block first
    return int(sources.size)


def _half(vector: np.ndarray | None) -> bytes:
    # Clipped to float16's range: an overflow would come back as inf and drop the sample.
    return np.clip(np.asarray(vector, dtype=np.float32), -65000, 65000).astype("<f2").tobytes()
