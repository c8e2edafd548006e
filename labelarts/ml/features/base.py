"""The feature-encoder interface and the batching pipeline the encoders share.

An encoder turns raw file bytes (an image file, a UTF-8 text file, a WAV file) into one
float32 feature row per payload. A payload that cannot be decoded gives a row of NaN: one
bad file never fails the whole batch.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar, runtime_checkable

import numpy as np

__all__ = ["DEFAULT_BATCH_SIZE", "FeatureEncoder", "available_cpus", "batched", "prefetched_batches"]

DEFAULT_BATCH_SIZE = 32

Item = TypeVar("Item")
Prepared = TypeVar("Prepared")


@runtime_checkable
class FeatureEncoder(Protocol):
    """Raw payloads in, float32 ``(n, dim)`` features out.

    ``name`` is a stable cache key that names the model and its input size (for example
    ``"efficientnet-lite0@224"``): features with the same name are comparable.
    """

    name: str
    modality: str  # "image" | "text" | "audio"
    dim: int

    def encode(self, payloads: Sequence[bytes]) -> np.ndarray:
        """Features of each payload, float32 ``(len(payloads), dim)``; NaN rows where undecodable."""
        ...


def available_cpus() -> int:
    """CPUs this process may run on (the affinity mask, not the host's core count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def batched(items: Iterable[Item], batch_size: int) -> Iterator[list[Item]]:
    """Consecutive lists of at most ``batch_size`` items."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    batch: list[Item] = []
    for item in items:
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def prefetched_batches(
    items: Iterable[Item],
    prepare: Callable[[list[Item]], Prepared],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 1,
) -> Iterator[Prepared]:
    """``prepare(batch)`` for consecutive batches of ``items``, run in worker threads ahead.

    While the caller works on batch k (an onnxruntime call, which releases the GIL), the
    workers already prepare batches k+1 to k+workers, so decoding and inference overlap. No
    more than ``workers + 1`` batches are prepared or in flight at any time, whatever the
    number of items: memory stays bounded and ``items`` may be an endless stream. An
    exception raised by ``prepare`` propagates to the caller.
    """
    workers = max(1, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feature-prepare") as pool:
        pending: deque[Future[Prepared]] = deque()
        try:
            for batch in batched(items, batch_size):
                pending.append(pool.submit(prepare, batch))
                if len(pending) > workers:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            # The consumer stopped early (or failed): drop work that has not started.
            for future in pending:
                future.cancel()
