"""The per-sample feature cache: one row per (sample, encoder), so a second task over the
same dataset only encodes the samples added since."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from sqlalchemy import insert, select

from labelarts.clock import now_ms
from labelarts.storage.db import Database
from labelarts.storage.db.models import Sample, SampleFeature

_CHUNK = 500
T = TypeVar("T")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class CachedFeature:
    vector: np.ndarray | None  # float32 (dim,), None when the file could not be decoded
    stats: np.ndarray | None  # image statistics (6,), None for other media


class FeatureCache:
    def __init__(self, db: Database) -> None:
        self._db = db

    def load(self, encoder: str, sample_ids: Sequence[str]) -> dict[str, CachedFeature]:
        found: dict[str, CachedFeature] = {}
        with self._db.session() as session:
            for chunk in chunks(sample_ids, _CHUNK):
                rows = session.execute(
                    select(SampleFeature.sample_id, SampleFeature.vector, SampleFeature.stats).where(
                        SampleFeature.encoder == encoder, SampleFeature.sample_id.in_(chunk)
                    )
                )
                for sample_id, vector, stats in rows:
                    found[sample_id] = CachedFeature(
                        None if vector is None else np.frombuffer(vector, dtype="<f2").astype(np.float32),
                        None if stats is None else np.asarray(stats, dtype=np.float64),
                    )
        return found

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


def _half(vector: np.ndarray | None) -> bytes:
    # Clipped to float16's range: an overflow would come back as inf and drop the sample.
    return np.clip(np.asarray(vector, dtype=np.float32), -65000, 65000).astype("<f2").tobytes()
