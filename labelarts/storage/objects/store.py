"""Object storage. Keys are ``/``-separated relative paths; nothing escapes the store root."""

from __future__ import annotations

import posixpath
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol, runtime_checkable

import fsspec

from labelarts.errors import InvalidPathError

if TYPE_CHECKING:
    from labelarts.storage.objects.options import S3Options


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: its key, size in bytes and modification time (epoch seconds)."""

    key: str
    size: int
    mtime: float


class ObjectStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write the object from ``chunks`` (never all held at once) under a temporary name,
        renamed to ``key`` once complete: a write that fails or is interrupted leaves no
        object at ``key`` that looks whole. Returns the number of bytes written."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def list(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix`` (a folder) or equal to it, streamed: never all in memory."""
        ...

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        """:meth:`list` with each object's size and time (from the listing itself where the
        store's listing carries them, as S3's does; objects gone meanwhile are skipped)."""
        ...

    def open(self, key: str) -> IO[bytes]:
        """The object opened for reading (``FileNotFoundError`` if there is none)."""
        ...

    def info(self, key: str) -> tuple[int, float]:
        """Size in bytes and modification time (epoch seconds) of an object."""
        ...


@runtime_checkable
class PresignedReads(Protocol):
    """A store whose objects clients can fetch directly with a pre-signed URL (S3)."""

    def presigned_get(
        self, key: str, ttl_seconds: int, *, content_type: str | None = None, attachment: bool = False
    ) -> str: ...


@runtime_checkable
class Checked(Protocol):
    """A remote store that can be reached once at start-up to report misconfiguration early."""

    def check(self) -> None: ...


def normalize_key(key: str) -> str:
    """Refuse keys that could leave the store root (``..``, absolute paths, NUL)."""
    if not key or "\x00" in key or "\\" in key:
        raise InvalidPathError("Invalid object key.")
    cleaned = posixpath.normpath(key.lstrip("/"))
    if cleaned in (".", "") or cleaned.startswith("..") or "/../" in f"/{cleaned}/":
        raise InvalidPathError("Invalid object key.")
    return cleaned


class FsspecObjectStore:
    """An object store over any fsspec filesystem: ``file://``, ``memory://``, ``s3://``..."""

    def __init__(self, url: str) -> None:
        self.fs, root = fsspec.core.url_to_fs(url)
        self.root = root.rstrip("/")
        if self.fs.protocol in ("file", ("file", "local")) or "file" in self.fs.protocol:
            self.fs.makedirs(self.root, exist_ok=True)

    def _path(self, key: str) -> str:
        return f"{self.root}/{normalize_key(key)}"

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self.fs.makedirs(posixpath.dirname(path), exist_ok=True)
        with self.fs.open(path, "wb") as fh:
            fh.write(data)

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        path = self._path(key)
        folder, name = posixpath.split(path)
        self.fs.makedirs(folder, exist_ok=True)
        temporary = f"{folder}/.{name}.{secrets.token_hex(6)}.tmp"
        written = 0
        try:
            with self.fs.open(temporary, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
                    written += len(chunk)
            self.fs.mv(temporary, path)
        except BaseException:
            if self.fs.exists(temporary):
                self.fs.rm(temporary)
            raise
        return written

    def get(self, key: str) -> bytes:
        with self.fs.open(self._path(key), "rb") as fh:
            data: bytes = fh.read()
            return data

    def open(self, key: str) -> IO[bytes]:
        fh: IO[bytes] = self.fs.open(self._path(key), "rb")
        return fh

    def info(self, key: str) -> tuple[int, float]:
        details = self.fs.info(self._path(key))
        mtime = details.get("mtime") or details.get("LastModified") or details.get("created") or 0
        if hasattr(mtime, "timestamp"):
            mtime = mtime.timestamp()
        return int(details.get("size") or 0), float(mtime)

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def delete(self, key: str) -> None:
        path = self._path(key)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def list(self, prefix: str) -> Iterator[str]:
        """Every key under ``prefix``, streamed one folder listing at a time (never the whole
        tree in memory): a folder's objects sorted by name, then its sub-folders in name order."""
        base = self._path(prefix)
        if not self.fs.exists(base):
            return
        if self.fs.isfile(base):
            yield base[len(self.root) + 1 :]
            return
        for folder, dirs, files in self.fs.walk(base):
            dirs.sort()  # walk() descends in the order left in ``dirs``
            for name in sorted(files):
                yield f"{folder}/{name}"[len(self.root) + 1 :]

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        yield from infos_of(self, self.list(prefix))


def infos_of(store: ObjectStore, keys: Iterable[str]) -> Iterator[ObjectInfo]:
    """Size and time of each key, asked one by one (stores whose listing lacks them)."""
    for key in keys:
        try:
            size, mtime = store.info(key)
        except (FileNotFoundError, IsADirectoryError):
            continue
        yield ObjectInfo(key, size, mtime)


def open_object_store(url: str, *, s3: S3Options | None = None) -> ObjectStore:
    """A local folder (``file://``) through :class:`LocalObjectStore` (links never followed);
    an S3 bucket (``s3://bucket[/prefix]``) through :class:`S3ObjectStore` with ``s3``'s
    endpoint and credentials; any other fsspec URL through :class:`FsspecObjectStore`."""
    if url.startswith("file://"):
        from labelarts.storage.objects.local import LocalObjectStore  # it imports this module

        return LocalObjectStore(Path(url[len("file://") :]))
    if url.startswith("s3://"):
        from labelarts.storage.objects.s3 import S3ObjectStore  # boto3 only where S3 is used

        return S3ObjectStore(url, s3)
    return FsspecObjectStore(url)
