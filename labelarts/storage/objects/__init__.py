"""The object store behind one small interface (local folder, S3-compatible bucket, in-memory)."""

from labelarts.storage.objects.local import LocalObjectStore
from labelarts.storage.objects.store import FsspecObjectStore, ObjectInfo, ObjectStore, open_object_store

__all__ = ["FsspecObjectStore", "LocalObjectStore", "ObjectInfo", "ObjectStore", "open_object_store"]
