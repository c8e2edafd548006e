"""PCC, data cleaning (``sys_data_cleaning``): keep what resembles the prototypes.

The runner reads the images under ``prototype_sample_path`` (positive samples) and
``criticism_sample_path`` (negative samples, optional) and passes them in
:attr:`PCCParams.prototypes` and :attr:`PCCParams.criticisms` (``dataclasses.replace`` on the
parsed parameters). Then, on L2-normalised feature rows (EfficientNet-Lite in the service):

1. the prototypes are clustered with ``KMeans`` into ``n_clusters`` groups ("auto": one per
   prototype; a number must be below the sample count, ModelArts.4622, and is capped at the
   number of prototypes, since k-means cannot make more groups than points);
2. a sample is kept when its cosine similarity to the nearest prototype is at least
   ``simlarity_threshold`` (0.9), or its distance to the nearest centroid, ``(1 - cos) / 2``,
   is at most ``embedding_distance`` (0.2);
3. a kept sample is still deleted when its nearest criticism is more similar than its nearest
   prototype.

Deleted samples are 2 with the figures that decided it; kept ones 0. Samples without features
(not decodable) are left unmodified. Memory per sample: its id and a decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from sklearn.cluster import KMeans

from labelarts.ml.processing.base import (
    DELETED,
    UNMODIFIED,
    Embedder,
    ProcessingInput,
    ProcessingOutcome,
    ProcessingParameterError,
)
from labelarts.ml.processing.dedup import threshold_param
from labelarts.ml.processing.params import (
    BAD_VALUE,
    CommonParams,
    common_fields,
    parse_float,
    parse_n_clusters,
    parse_text,
)
from labelarts.ml.processing.rrd import check_n_clusters
from labelarts.ml.processing.similarity import embedded_batches

__all__ = ["PCC", "PCCParams"]

_NAME = "PCC"
_BATCH = 64


@dataclass(frozen=True, kw_only=True)
class PCCParams(CommonParams):
    prototype_sample_path: str
    criticism_sample_path: str | None = None
    n_clusters: int | None = None
    """None: "auto", one cluster per prototype."""
    simlarity_threshold: float = 0.9
    embedding_distance: float = 0.2
    prototypes: tuple[ProcessingInput, ...] = ()
    """The images under ``prototype_sample_path``; the runner fills them in."""
    criticisms: tuple[ProcessingInput, ...] = ()
    """The images under ``criticism_sample_path``; the runner fills them in."""


def _unit(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: NDArray[np.float32] = (rows / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _reference_rows(refs: tuple[ProcessingInput, ...], embed: Embedder) -> NDArray[np.float32]:
    parts = [rows[valid] for _, rows, valid in embedded_batches(refs, embed, _BATCH)]
    return _unit(np.concatenate(parts)) if parts else np.zeros((0, 0), dtype=np.float32)


class PCC:
    name = _NAME
    kind: Literal["set"] = "set"

    def parse_params(self, raw: Mapping[str, object]) -> PCCParams:
        prototypes = parse_text(raw, "prototype_sample_path")
        if prototypes is None:
            raise ProcessingParameterError(
                BAD_VALUE, "Parameter prototype_sample_path is mandatory: the folder of positive samples."
            )
        return PCCParams(
            **common_fields(raw),
            prototype_sample_path=prototypes,
            criticism_sample_path=parse_text(raw, "criticism_sample_path"),
            n_clusters=parse_n_clusters(raw),
            simlarity_threshold=threshold_param(raw, 0.9),
            embedding_distance=parse_float(raw, "embedding_distance", 0.2, low=0.0, high=1.0),
        )

    def select(
        self,
        items: Iterable[ProcessingInput],
        params: object,
        embed: Embedder,
        rng: np.random.Generator,
    ) -> Iterator[ProcessingOutcome]:
        assert isinstance(params, PCCParams)
        positives = _reference_rows(params.prototypes, embed)
        if len(positives) == 0:
            raise ProcessingParameterError(
                BAD_VALUE,
                f"No decodable image under prototype_sample_path {params.prototype_sample_path!r}.",
            )
        negatives = _reference_rows(params.criticisms, embed)
        k = min(params.n_clusters or len(positives), len(positives))
        if k < len(positives):
            model = KMeans(n_clusters=k, n_init=3, random_state=int(rng.integers(0, 2**31 - 1)))
            centres = _unit(model.fit(positives).cluster_centers_.astype(np.float32))
        else:
            centres = positives
        decisions: list[ProcessingOutcome] = []
        for batch, rows, valid in embedded_batches(items, embed, _BATCH):
            rows = np.where(valid[:, None], rows, 0.0).astype(np.float32)
            nearest_positive = (rows @ positives.T).max(axis=1)
            centre_distance = (1.0 - (rows @ centres.T).max(axis=1)) / 2.0
            nearest_negative = (rows @ negatives.T).max(axis=1) if len(negatives) else None
            for i, item in enumerate(batch):
                decisions.append(
                    self._decide(
                        item.sample_id,
                        bool(valid[i]),
                        float(nearest_positive[i]),
                        float(centre_distance[i]),
                        None if nearest_negative is None else float(nearest_negative[i]),
                        params,
                    )
                )
        check_n_clusters(params.n_clusters, len(decisions))
        yield from decisions

    @staticmethod
    def _decide(
        sample_id: str,
        valid: bool,
        positive: float,
        distance: float,
        negative: float | None,
        params: PCCParams,
    ) -> ProcessingOutcome:
        if not valid:
            return ProcessingOutcome(
                sample_id, UNMODIFIED, (f"{_NAME}: no features (not decodable); left as is",)
            )
        figures = f"similarity {positive:.2f} to nearest positive, distance {distance:.2f} to nearest centre"
        if positive < params.simlarity_threshold and distance > params.embedding_distance:
            return ProcessingOutcome(sample_id, DELETED, (f"{_NAME}: deleted: {figures}",))
        if negative is not None and negative > positive:
            return ProcessingOutcome(
                sample_id,
                DELETED,
                (
                    f"{_NAME}: deleted: similarity {negative:.2f} to nearest negative, above {positive:.2f} "
                    "to nearest positive",
                ),
            )
        return ProcessingOutcome(sample_id, UNMODIFIED, (f"{_NAME}: kept: {figures}",))
