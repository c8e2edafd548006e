"""Where a sample's bytes are, for a reader in another process or on another machine (a Ray
worker) that shares the object store and the granted folders but not the database.

The process that knows the sample and its project (the task's driver) checks the grant and
says where the file is; the reader only opens it: an object key in the store, or a path below
a granted root, opened below the root's descriptor with links refused, exactly as
:class:`labelarts.services.samples.sources.LocalFiles` would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labelarts.storage.localfs import LocalRoot
from labelarts.storage.objects.store import ObjectStore

__all__ = ["FileLocation", "read_located"]


@dataclass(frozen=True)
class FileLocation:
    """An object ``key`` (``root`` None), or a file ``key`` relative to the granted folder
    ``root``."""

    key: str
    root: str | None = None


def read_located(location: FileLocation, objects: ObjectStore) -> bytes:
    """The file's bytes; OSError (FileNotFoundError...) when it is gone or not a regular file
    reachable without links."""
    if location.root is None:
        return objects.get(location.key)
    with LocalRoot(Path(location.root)).open_binary(location.key) as fh:
        return fh.read()
