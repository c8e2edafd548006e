"""The object store behind one small interface (local folder, in-memory, later S3)."""

from labelarts.storage.objects.local import LocalObjectStore
from labelarts.storage.objects.store import FsspecObjectStore, ObjectStore, open_object_store

__all__ = ["FsspecObjectStore", "LocalObjectStore", "ObjectStore", "open_object_store"]
