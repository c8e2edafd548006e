"""RRD, de-redundancy (``sys_data_selection``): keep a representative ``sample_ratio`` of the set.

1. Every sample's feature row (the embedder's, EfficientNet-Lite in the service) is reduced by
   PCA to 64 dimensions, fitted on the first 2,048 rows: that is all that is kept per sample.
2. The rows are clustered with ``MiniBatchKMeans``. ``n_clusters`` "auto" is the number of
   labels when every labeled sample has exactly one label (single-label classification),
   else ``round(sqrt(n / 2))``; a number must be below the sample count (ModelArts.4622).
3. In each cluster, ``ceil(sample_ratio x size)`` samples are kept by farthest-point sampling
   that starts at the sample nearest the centroid: each next pick is the sample farthest from
   all picks so far, so near-identical samples are picked last.
4. The rest, the most redundant ones, are deleted (2) and named with their nearest kept sample.

The reference's wording ("the data with the largest difference can be removed") contradicts
de-redundancy; LabelArts removes the most redundant samples (processing.md §7.6). Samples
without features (not decodable) are left unmodified. The clustering is seeded by the run's
generator, so a version rerun selects the same samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import MiniBatchKMeans

from labelarts.ml.processing.base import (
    DELETED,
    UNMODIFIED,
    Embedder,
    ProcessingInput,
    ProcessingOutcome,
    ProcessingParameterError,
)
from labelarts.ml.processing.params import CommonParams, common_fields, parse_float, parse_n_clusters
from labelarts.ml.processing.similarity import Reducer, embedded_batches

__all__ = ["RRD", "RRDParams", "check_n_clusters", "farthest_point_order"]

_NAME = "RRD"
TOO_MANY_CLUSTERS = "ModelArts.4622"


def check_n_clusters(n_clusters: int | None, sample_count: int) -> None:
    """ModelArts.4622 unless ``n_clusters`` is "auto" (None) or below ``sample_count``."""
    if n_clusters is not None and n_clusters >= sample_count:
        raise ProcessingParameterError(
            TOO_MANY_CLUSTERS,
            f"Invalid n_clusters {n_clusters}: it must be less than the number of samples ({sample_count}).",
        )


@dataclass(frozen=True, kw_only=True)
class RRDParams(CommonParams):
    sample_ratio: float = 0.9
    """The fraction of samples kept, in (0, 1]."""
    n_clusters: int | None = None
    """None: "auto"."""


def farthest_point_order(
    rows: NDArray[np.float32], start: int, count: int
) -> tuple[list[int], NDArray[np.int64]]:
    """The first ``count`` picks of farthest-point sampling from row ``start``, and for every row
    the pick nearest to it (after those picks)."""
    distance = ((rows - rows[start]) ** 2).sum(axis=1)
    nearest = np.full(len(rows), start, dtype=np.int64)
    picks = [start]
    for _ in range(count - 1):
        chosen = int(np.argmax(distance))
        picks.append(chosen)
        candidate = ((rows - rows[chosen]) ** 2).sum(axis=1)
        closer = candidate < distance
        distance = np.where(closer, candidate, distance)
        nearest[closer] = chosen
    return picks, nearest


class RRD:
    name = _NAME
    kind: Literal["set"] = "set"

    def parse_params(self, raw: Mapping[str, object]) -> RRDParams:
        return RRDParams(
            **common_fields(raw),
            sample_ratio=parse_float(raw, "sample_ratio", 0.9, low=0.0, high=1.0, low_open=True),
            n_clusters=parse_n_clusters(raw),
        )

    def select(
        self,
        items: Iterable[ProcessingInput],
        params: object,
        embed: Embedder,
        rng: np.random.Generator,
    ) -> Iterator[ProcessingOutcome]:
        assert isinstance(params, RRDParams)
        seed = int(rng.integers(0, 2**31 - 1))
        reducer = Reducer(seed=seed)
        ids: list[str] = []
        row_of: list[int] = []  # feature row of each sample, -1 when none
        label_sets: set[str] = set()
        single_label = True
        rows_seen = 0
        for batch, rows, valid in embedded_batches(items, embed):
            for item, ok in zip(batch, valid.tolist(), strict=True):
                ids.append(item.sample_id)
                row_of.append(rows_seen if ok else -1)
                rows_seen += int(ok)
                if item.labels:
                    if len(item.labels) == 1:
                        label_sets.add(item.labels[0])
                    else:
                        single_label = False
            reducer.add(rows[valid])
        n = len(ids)
        check_n_clusters(params.n_clusters, n)
        reduced = reducer.finish()
        keep = np.zeros(len(reduced), dtype=bool)
        nearest_kept = np.arange(len(reduced), dtype=np.int64)
        cluster_of = np.zeros(len(reduced), dtype=np.int64)
        if len(reduced):
            if params.n_clusters is not None:
                k = params.n_clusters
            elif single_label and label_sets:
                k = len(label_sets)
            else:
                k = round(math.sqrt(n / 2))
            k = max(1, min(k, len(reduced)))
            if k > 1:
                model = MiniBatchKMeans(
                    n_clusters=k, random_state=seed, n_init=3, batch_size=min(1024, len(reduced))
                ).fit(reduced)
                cluster_of = model.labels_.astype(np.int64)
                centres = model.cluster_centers_
            else:
                centres = reduced.mean(axis=0, keepdims=True)
            for cluster in range(k):
                members = np.flatnonzero(cluster_of == cluster)
                if len(members) == 0:
                    continue
                member_rows = reduced[members]
                start = int(np.argmin(((member_rows - centres[cluster]) ** 2).sum(axis=1)))
                count = min(len(members), max(1, math.ceil(params.sample_ratio * len(members) - 1e-9)))
                picks, nearest = farthest_point_order(member_rows, start, count)
                keep[members[picks]] = True
                nearest_kept[members] = members[nearest]
        sample_of_row = np.flatnonzero(np.asarray(row_of) >= 0)
        for index, sample_id in enumerate(ids):
            row = row_of[index]
            if row < 0:
                yield ProcessingOutcome(
                    sample_id, UNMODIFIED, (f"{_NAME}: no features (not decodable); left as is",)
                )
            elif keep[row]:
                yield ProcessingOutcome(
                    sample_id, UNMODIFIED, (f"{_NAME}: kept (cluster {cluster_of[row]})",)
                )
            else:
                other = ids[int(sample_of_row[nearest_kept[row]])]
                yield ProcessingOutcome(
                    sample_id,
                    DELETED,
                    (f"{_NAME}: redundant in cluster {cluster_of[row]}: nearest kept sample {other}",),
                )
