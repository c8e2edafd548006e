"""The object store in a local folder (``file://``, the default), reached only through
:mod:`labelarts.storage.localfs`.

Operators may let other programs drop files into the store for ``obs://`` imports, so keys
are opened like import-root files: relative to the store folder's descriptor, symbolic links
and ``..`` refused by the kernel. A link placed in the store is never followed (it is not
listed, and reading it is ``FileNotFoundError``); writes go to a temporary name in the
confined parent folder and are renamed into place; recursive deletes use
``shutil.rmtree(dir_fd=...)``, which does not follow links either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from labelarts.storage.localfs import LocalRoot, split_relative
from labelarts.storage.objects.store import ObjectInfo, infos_of, normalize_key

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EISDIR, errno.EINVAL)


class LocalObjectStore:
    """:class:`~labelarts.storage.objects.store.ObjectStore` over a local folder, confined."""

    def __init__(self, root: Path, *, mode: str | None = None) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = LocalRoot(root.resolve(), mode=mode)

    def _parts(self, key: str) -> list[str]:
        return split_relative(normalize_key(key))

    # --- reading --------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        """The object opened for reading (the caller closes it); ``FileNotFoundError`` if
        there is no such regular file reachable without links."""
        try:
            return self.root.open_binary("/".join(self._parts(key)))
        except OSError as exc:
            if exc.errno in _MISSING:
                raise FileNotFoundError(errno.ENOENT, "no such object", key) from None
            raise

    def get(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def info(self, key: str) -> tuple[int, float]:
        """Size and modification time (epoch seconds) of an object."""
        with self.open(key) as fh:
            st = os.fstat(fh.fileno())
        return st.st_size, st.st_mtime

    def exists(self, key: str) -> bool:
        """Whether ``key`` is an object or a folder of objects (as fsspec answers)."""
        parts = self._parts(key)
        try:
            with self.root.open_dir("/".join(parts[:-1])) as parent:
                mode = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False).st_mode
        except OSError:
            return False
        return stat.S_ISREG(mode) or stat.S_ISDIR(mode)

    def list(self, prefix: str) -> Iterator[str]:
        """Every object key under ``prefix`` (a folder) or equal to it; links skipped. Streamed
        one folder at a time, as :meth:`FsspecObjectStore.list`: a folder's objects sorted by
        name, then its sub-folders in name order (never the whole tree in memory)."""
        parts = self._parts(prefix)
        base = "/".join(parts)
        try:
            with self.root.open_dir(base):
                pass
        except NotADirectoryError:
            if self.exists(prefix):
                yield base
            return
        except OSError:
            return
        yield from self._walk(base)

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        yield from infos_of(self, self.list(prefix))

    def _walk(self, base: str) -> Iterator[str]:
        stack = [base]
        while stack:
            folder = stack.pop()
            files: list[str] = []
            folders: list[str] = []
            try:
                with self.root.scandir(folder) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            folders.append(entry.name)
                        elif entry.is_file(follow_symlinks=False):
                            files.append(entry.name)
            except OSError:
                continue
            yield from (f"{folder}/{name}" for name in sorted(files))
            stack.extend(f"{folder}/{name}" for name in sorted(folders, reverse=True))

    # --- writing --------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        self.put_stream(key, (data,))

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write ``chunks`` to a temporary name beside ``key``, renamed into place once
        complete (nothing half written is ever found at ``key``); the bytes written."""
        parts = self._parts(key)
        written = 0
        with self.root.opened() as root_fd:
            parent = self._make_dirs(root_fd, parts[:-1])
        try:
            temporary = f".{parts[-1]}.{secrets.token_hex(6)}.tmp"
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=parent)
            try:
                with os.fdopen(fd, "wb") as fh:
                    for chunk in chunks:
                        fh.write(chunk)
                        written += len(chunk)
                os.replace(temporary, parts[-1], src_dir_fd=parent, dst_dir_fd=parent)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=parent)
                raise
        finally:
            os.close(parent)
        return written

    @staticmethod
    def _make_dirs(root_fd: int, names: Sequence[str]) -> int:
        """Open (creating as needed) the folder ``names`` below the root, no links followed."""
        current = os.dup(root_fd)
        for name in names:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o755, dir_fd=current)
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=current)
            finally:
                os.close(current)
            current = child
        return current

    def delete(self, key: str) -> None:
        """Delete an object, or a folder of objects recursively (links removed, not followed)."""
        parts = self._parts(key)
        try:
            with self.root.open_dir("/".join(parts[:-1])) as parent:
                mode = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False).st_mode
                if stat.S_ISDIR(mode):
                    shutil.rmtree(parts[-1], dir_fd=parent)
                else:
                    os.unlink(parts[-1], dir_fd=parent)
        except FileNotFoundError:
            return
