"""Object-store listings stream: the importer walks a prefix without holding its keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from labelarts.services.importing.sources import FileRef, ObjectTree
from labelarts.storage.objects import ObjectInfo, ObjectStore, open_object_store

KEYS = ["p/b.jpg", "p/c.jpg", "p/a/x.jpg", "p/a/y/z.jpg", "p/d/w.jpg", "q/other.jpg"]


class CountingStore:
    """An object store that counts how many keys its listings have handed out."""

    def __init__(self, store: ObjectStore) -> None:
        self._store = store
        self.listed = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def list(self, prefix: str) -> Iterator[str]:
        for key in self._store.list(prefix):
            self.listed += 1
            yield key

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        for found in self._store.list_info(prefix):
            self.listed += 1
            yield found


@pytest.fixture(params=["file", "memory"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return f"file://{tmp_path / 'objects'}" if request.param == "file" else f"memory://{tmp_path.name}"


def test_listing_is_folder_by_folder_in_name_order(store_url: str) -> None:
    store = open_object_store(store_url)
    for key in KEYS:
        store.put(key, b"x")
    assert list(store.list("p")) == ["p/b.jpg", "p/c.jpg", "p/a/x.jpg", "p/a/y/z.jpg", "p/d/w.jpg"]
    assert list(store.list("p/b.jpg")) == ["p/b.jpg"]
    assert list(store.list("nothing")) == []


def test_walking_a_prefix_takes_keys_one_at_a_time(store_url: str) -> None:
    inner = open_object_store(store_url)
    for i in range(50):
        inner.put(f"pics/{i:03d}.jpg", b"x")
    store = CountingStore(inner)
    walk = ObjectTree(store, "pics").walk()  # type: ignore[arg-type]
    first = next(walk)
    assert isinstance(first, FileRef) and first.rel == "000.jpg"
    assert store.listed == 1  # not the 50 keys of the prefix
    assert sum(1 for _item in walk) == 49
