"""The thumbnail cache: rendered ``x-image-process`` results in the object store, under a size quota.

Every distinct ``process_parameter`` makes a new rendering, so without a bound anyone holding
a sample URL could fill the disk. The cache keeps, per process, an index of the cached keys
with their sizes in least-recently-used order; a hit moves a key to the end, and storing a
new rendering first evicts from the front until the total fits the quota
(``LABELARTS_THUMBNAIL_CACHE_BYTES``). A rendering larger than the whole quota is served
but not kept.

The index is built on first use from a listing of ``thumbnails/`` (oldest modification time
first), so a restart keeps the bound; instances sharing one store each keep their own index,
so the bound then holds per instance, and an instance may serve (and re-render) a key
another evicted.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Final

from labelarts.storage.objects import ObjectStore

log = logging.getLogger("labelarts.thumbnails")

THUMBNAIL_PREFIX: Final = "thumbnails"


class ThumbnailCache:
    def __init__(self, objects: ObjectStore, quota_bytes: int) -> None:
        self._objects = objects
        self.quota_bytes = quota_bytes
        self._lock = threading.Lock()
        self._index: OrderedDict[str, int] | None = None
        self._total = 0

    @property
    def total_bytes(self) -> int:
        with self._lock:
            self._load()
            return self._total

    def _load(self) -> None:
        """Build the index from the store (called with the lock held)."""
        if self._index is not None:
            return
        found: list[tuple[float, str, int]] = []
        for key, size, mtime in _listing(self._objects, THUMBNAIL_PREFIX):
            found.append((mtime, key, size))
        found.sort()
        self._index = OrderedDict((key, size) for _mtime, key, size in found)
        self._total = sum(self._index.values())
        self._evict(0)

    def get(self, key: str) -> bytes | None:
        """The cached bytes of ``key`` (and it becomes the most recently used), or None."""
        with self._lock:
            self._load()
            assert self._index is not None
            if key not in self._index:
                return None
            self._index.move_to_end(key)
        try:
            return self._objects.get(key)
        except (FileNotFoundError, IsADirectoryError):
            self.forget([key])
            return None

    def put(self, key: str, data: bytes) -> None:
        """Keep ``data`` under ``key``, evicting the least recently used keys to fit the quota."""
        size = len(data)
        if size > self.quota_bytes:
            return
        with self._lock:
            self._load()
            assert self._index is not None
            self._total -= self._index.pop(key, 0)
            self._evict(size)
            self._index[key] = size
            self._total += size
            self._objects.put(key, data)

    def _evict(self, room: int) -> None:
        assert self._index is not None
        while self._index and self._total + room > self.quota_bytes:
            key, size = self._index.popitem(last=False)
            self._total -= size
            try:
                self._objects.delete(key)
            except Exception as exc:  # a leftover file only wastes space
                log.warning("could not evict thumbnail %s: %s", key, exc)

    def forget(self, keys: Iterable[str]) -> None:
        """Drop keys from the index (their objects were deleted with their samples)."""
        with self._lock:
            if self._index is None:
                return
            for key in keys:
                self._total -= self._index.pop(key, 0)

    def forget_prefix(self, prefix: str) -> None:
        with self._lock:
            if self._index is None:
                return
            for key in [k for k in self._index if k.startswith(prefix)]:
                self._total -= self._index.pop(key)


def _listing(objects: ObjectStore, prefix: str) -> Iterable[tuple[str, int, float]]:
    """(key, size, mtime) of every object under ``prefix``."""
    for found in objects.list_info(prefix):
        yield found.key, found.size, found.mtime
