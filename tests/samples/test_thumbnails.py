"""The thumbnail cache's eviction order and bookkeeping (services/samples/thumbnails.py)."""

from __future__ import annotations

import uuid

from labelarts.services.samples.thumbnails import ThumbnailCache
from labelarts.storage.objects import FsspecObjectStore


def store() -> FsspecObjectStore:
    return FsspecObjectStore(f"memory://thumbs-{uuid.uuid4().hex}")


def test_the_least_recently_used_go_first() -> None:
    objects = store()
    cache = ThumbnailCache(objects, quota_bytes=300)
    for name in "abc":
        cache.put(f"thumbnails/d/s/{name}", name.encode() * 100)
    assert cache.get("thumbnails/d/s/a") == b"a" * 100  # a is now the most recently used
    cache.put("thumbnails/d/s/d", b"d" * 100)
    assert sorted(objects.list("thumbnails")) == ["thumbnails/d/s/a", "thumbnails/d/s/c", "thumbnails/d/s/d"]
    assert cache.get("thumbnails/d/s/b") is None
    cache.put("thumbnails/d/s/e", b"e" * 250)  # needs the room of two and a half
    assert sorted(objects.list("thumbnails")) == ["thumbnails/d/s/e"]
    assert cache.total_bytes == 250


def test_a_rendering_larger_than_the_quota_is_not_kept() -> None:
    objects = store()
    cache = ThumbnailCache(objects, quota_bytes=100)
    cache.put("thumbnails/d/s/a", b"a" * 50)
    cache.put("thumbnails/d/s/big", b"x" * 101)
    assert list(objects.list("thumbnails")) == ["thumbnails/d/s/a"]


def test_the_index_is_rebuilt_from_the_store_and_keeps_the_bound() -> None:
    objects = store()
    for i in range(10):
        objects.put(f"thumbnails/d/s/{i}", b"x" * 100)
    cache = ThumbnailCache(objects, quota_bytes=450)  # a restart with a smaller quota
    assert cache.total_bytes == 400
    assert len(list(objects.list("thumbnails"))) == 4
    cache.forget_prefix("thumbnails/d/")  # the samples were deleted (objects removed elsewhere)
    assert cache.total_bytes == 0
