"""Every local file LabelArts opens, lists, stats or deletes below a root folder goes through here.

A :class:`LocalRoot` is a folder the operator configured (an import root). Nothing below it is
ever reached by a path string: each operation opens the root, then opens what it needs
*relative to the root's descriptor*, with the kernel refusing symbolic links and ``..`` on the
way, and then works only on the descriptor it got. A folder, file or parent swapped for a
symbolic link between a check and a use therefore cannot lead anywhere else: there is no
second lookup by name.

* Where the kernel has it (Linux 5.6+, and not blocked by a seccomp profile), the lookup is one
  ``openat2(root_fd, rel, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)``
  call (through ``ctypes``: the C library has no wrapper). Whether it works is found out once,
  on first use.
* Otherwise the path is walked one component at a time from the root's descriptor:
  ``os.open(name, O_DIRECTORY | O_NOFOLLOW, dir_fd=parent)`` for every folder and
  ``O_NOFOLLOW`` for the last component. ``..``, ``.`` and absolute paths never reach the
  kernel: :func:`split_relative` refuses them first.

Files are opened with ``O_NONBLOCK`` (a FIFO swapped in cannot hang a reader) and must be
regular files (checked with ``fstat`` on the descriptor). Listing scans a folder's descriptor
(``os.scandir(fd)``); deletes unlink a name relative to its parent folder's descriptor.

Errors are :class:`OSError` as the kernel gives them (``ELOOP`` for a symbolic link,
``EXDEV`` for a way out of the root, ``ENOTDIR``, ``ENAMETOOLONG``, ``EACCES``...);
:func:`path_error` turns one into the 400 a request with that path should get.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final

from labelarts.errors import InvalidPathError, LabelArtsError, PathNotFoundError

# openat2(2): the syscall number is 437 on every architecture with the unified table.
_SYS_OPENAT2: Final = {"x86_64": 437, "aarch64": 437, "arm64": 437, "riscv64": 437, "ppc64le": 437}
_RESOLVE_NO_MAGICLINKS: Final = 0x02
_RESOLVE_NO_SYMLINKS: Final = 0x04
_RESOLVE_BENEATH: Final = 0x08
_RESOLVE: Final = _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
_DIR_FLAGS: Final = os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC
_FILE_FLAGS: Final = os.O_RDONLY | _NONBLOCK | getattr(os, "O_NOCTTY", 0) | _CLOEXEC

OPENAT2, WALK = "openat2", "walk"


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _Openat2:
    """The raw syscall, or None where this kernel (or its seccomp filter) does not offer it."""

    _lock = threading.Lock()
    _probed = False
    _call: _Openat2 | None = None

    def __init__(self, number: int) -> None:
        self._syscall = ctypes.CDLL(None, use_errno=True).syscall
        self._syscall.restype = ctypes.c_long
        # The arguments that never change are built once: an import opens every file through
        # here, and each ctypes object costs as much as the system call itself.
        self._number = ctypes.c_long(number)
        self._how_size = ctypes.c_size_t(ctypes.sizeof(_OpenHow))
        self._hows: dict[int, _OpenHow] = {}  # by flags; the kernel only reads them

    def __call__(self, dir_fd: int, rel: str, flags: int) -> int:
        how = self._hows.get(flags)
        if how is None:
            how = self._hows.setdefault(flags, _OpenHow(flags, 0, _RESOLVE))
        fd = int(
            self._syscall(
                self._number, ctypes.c_int(dir_fd), os.fsencode(rel), ctypes.byref(how), self._how_size
            )
        )
        if fd < 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), rel)
        return fd

    @classmethod
    def get(cls) -> _Openat2 | None:
        if cls._probed:  # set after _call, under the lock: no lock once probed
            return cls._call
        with cls._lock:
            if not cls._probed:
                cls._call = cls._probe()
                cls._probed = True
            return cls._call

    @classmethod
    def _probe(cls) -> _Openat2 | None:
        number = _SYS_OPENAT2.get(platform.machine().lower())
        if number is None or not hasattr(os, "O_DIRECTORY"):
            return None
        try:
            call = cls(number)
            root = os.open("/", _DIR_FLAGS)
        except (OSError, AttributeError):
            return None
        try:
            os.close(call(root, ".", _DIR_FLAGS))
        except OSError:  # ENOSYS (old kernel), EPERM (seccomp), E2BIG/EINVAL (older openat2)
            return None
        finally:
            os.close(root)
        return call


def openat2_available() -> bool:
    """Whether the kernel resolves confined paths itself (else the component walk is used)."""
    return _Openat2.get() is not None


def split_relative(rel: str) -> list[str]:
    """The components of a path relative to a root; ``ValueError`` for ``..``, NUL or ``/x``."""
    if "\x00" in rel:
        raise ValueError("path contains NUL")
    if rel.startswith("/"):
        raise ValueError("path is not relative")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError("path contains '..'")
    return parts


class LocalRoot:
    """A folder the operator configured; everything below it is reached only through it.

    ``mode`` forces :data:`OPENAT2` or :data:`WALK` (tests run both); by default openat2 is
    used where the kernel has it.
    """

    def __init__(self, path: Path, *, mode: str | None = None) -> None:
        if not path.is_absolute():
            raise ValueError(f"a root must be an absolute path: {path}")
        self.path = path
        if mode not in (None, OPENAT2, WALK):
            raise ValueError(f"unknown mode {mode!r}")
        if mode == OPENAT2 and _Openat2.get() is None:
            raise OSError(errno.ENOSYS, "openat2 is not available on this kernel")
        self._mode = mode

    def __repr__(self) -> str:
        return f"LocalRoot({str(self.path)!r})"

    @property
    def mode(self) -> str:
        if self._mode is not None:
            return self._mode
        return OPENAT2 if _Openat2.get() is not None else WALK

    # --- descriptors ------------------------------------------------------------------------

    @contextmanager
    def opened(self) -> Iterator[int]:
        """A descriptor on the root folder itself (the operator's path is trusted)."""
        fd = os.open(self.path, _DIR_FLAGS)
        try:
            yield fd
        finally:
            os.close(fd)

    def open_fd(self, root_fd: int, rel: str, flags: int) -> int:
        """Open ``rel`` below ``root_fd`` with ``flags``, refusing links and ``..`` on the way.

        ``rel`` empty (or ".") opens the root again.
        """
        try:
            parts = split_relative(rel)
        except ValueError as exc:
            raise OSError(errno.EINVAL, str(exc), rel) from None
        if not parts:
            return os.open(".", flags, dir_fd=root_fd)
        call = _Openat2.get() if self.mode == OPENAT2 else None
        if call is not None:
            return call(root_fd, "/".join(parts), flags)
        return _walk_open(root_fd, parts, flags)

    # --- files ------------------------------------------------------------------------------

    def _open_regular(self, rel: str, root_fd: int | None = None) -> tuple[int, os.stat_result]:
        """A descriptor on ``rel`` and its ``fstat``; ``rel`` must be a regular file. ``root_fd``:
        a descriptor on the root the caller holds (:meth:`opened`) for many files in a row."""
        if root_fd is None:
            with self.opened() as fresh_root:
                fd = self.open_fd(fresh_root, rel, _FILE_FLAGS)
        else:
            fd = self.open_fd(root_fd, rel, _FILE_FLAGS)
        try:
            st = os.fstat(fd)
            if stat.S_ISDIR(st.st_mode):
                raise OSError(errno.EISDIR, os.strerror(errno.EISDIR), rel)
            if not stat.S_ISREG(st.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", rel)
        except BaseException:
            os.close(fd)
            raise
        return fd, st

    def open_binary(self, rel: str, *, root_fd: int | None = None) -> BinaryIO:
        """``rel`` opened for reading (the caller closes it); it must be a regular file.
        ``root_fd``: as in :meth:`_open_regular`."""
        fd, _ = self._open_regular(rel, root_fd)
        try:
            # The reads that follow may block: a regular file ignores O_NONBLOCK anyway.
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    @contextmanager
    def open_file(self, rel: str) -> Iterator[BinaryIO]:
        """:meth:`open_binary`, closed on leaving the block."""
        with self.open_binary(rel) as fh:
            yield fh

    def read_bytes(self, rel: str, limit: int | None = None) -> bytes:
        """The whole file (``OSError`` with ``EFBIG`` past ``limit`` bytes)."""
        with self.open_file(rel) as fh:
            data = fh.read() if limit is None else fh.read(limit + 1)
        if limit is not None and len(data) > limit:
            raise OSError(errno.EFBIG, "file is too large", rel)
        return data

    def stat_file(self, rel: str, *, root_fd: int | None = None) -> os.stat_result:
        """``fstat`` of ``rel`` opened as a regular file (the same open and checks as
        :meth:`open_binary`, without a file object: an import stats every manifest line's file).
        ``root_fd``: as in :meth:`_open_regular`."""
        fd, st = self._open_regular(rel, root_fd)
        os.close(fd)
        return st

    def is_file(self, rel: str) -> bool:
        """Whether ``rel`` is a regular file reachable without links (no error either way)."""
        try:
            self.stat_file(rel)
        except OSError:
            return False
        return True

    # --- folders ----------------------------------------------------------------------------

    @contextmanager
    def open_dir(self, rel: str) -> Iterator[int]:
        """A descriptor on the folder ``rel`` (``ENOTDIR`` if it is not one)."""
        with self.opened() as root_fd:
            fd = self.open_fd(root_fd, rel, _DIR_FLAGS)
        try:
            yield fd
        finally:
            os.close(fd)

    def is_dir(self, rel: str) -> bool:
        try:
            with self.open_dir(rel):
                return True
        except OSError:
            return False

    @contextmanager
    def scandir(self, rel: str) -> Iterator[Iterator[os.DirEntry[str]]]:
        """The entries of the folder ``rel``, read from its descriptor.

        ``entry.stat(follow_symlinks=False)`` and ``entry.is_dir(follow_symlinks=False)`` work
        on that descriptor too; ``entry.path`` is only the name.
        """
        with self.open_dir(rel) as fd, os.scandir(fd) as entries:
            yield entries

    # --- deleting ---------------------------------------------------------------------------

    def unlink(self, rel: str) -> bool:
        """Delete the regular file ``rel``; False (nothing deleted) if it is not one any more.

        The parent folder is opened confined and the name unlinked relative to it, so a parent
        swapped for a link cannot redirect the delete; a name swapped for a link at the last
        moment loses the link only, never its target.
        """
        parts = split_relative(rel)
        if not parts:
            return False
        parent, name = "/".join(parts[:-1]), parts[-1]
        try:
            with self.open_dir(parent) as dir_fd:
                if not stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                    return False
                os.unlink(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        return True


def _walk_open(root_fd: int, parts: list[str], flags: int) -> int:
    """openat2's confinement by hand: one ``O_NOFOLLOW`` open per component."""
    current = root_fd
    try:
        for name in parts[:-1]:
            try:
                child = os.open(name, _DIR_FLAGS | _NOFOLLOW, dir_fd=current)
            except NotADirectoryError:
                # O_DIRECTORY wins over O_NOFOLLOW: say "link" (ELOOP) as openat2 does.
                if stat.S_ISLNK(os.stat(name, dir_fd=current, follow_symlinks=False).st_mode):
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), name) from None
                raise
            if current != root_fd:
                os.close(current)
            current = child
        return os.open(parts[-1], flags | _NOFOLLOW, dir_fd=current)
    finally:
        if current != root_fd:
            os.close(current)


# --- errors ---------------------------------------------------------------------------------

_NOT_FOUND: Final = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EISDIR})
_REASONS: Final = {
    errno.ENAMETOOLONG: "a name in the path is longer than the file system allows",
    errno.ELOOP: "the path goes through a symbolic link (links are not followed)",
    errno.EXDEV: "the path leads out of its import root",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EISDIR: "a folder where a file is expected",
    errno.EINVAL: "not a regular file",
    errno.EFBIG: "the file is too large",
    errno.ENXIO: "not a regular file",
    errno.EOVERFLOW: "the file is too large",
}


def path_reason(exc: OSError) -> str:
    """A short, host-neutral reason for an ``OSError`` on a data path."""
    if exc.errno == errno.ENOENT:
        return "does not exist"
    if exc.errno == errno.ENOTDIR:
        return "a file where a folder is expected"
    if exc.errno is not None and exc.errno in _REASONS:
        return _REASONS[exc.errno]
    return exc.strerror or "cannot be read"


def path_error(exc: OSError, what: str = "The path") -> LabelArtsError:
    """The 400 for an ``OSError`` raised by a path a request named.

    Missing, or a file where a folder is expected or the reverse (``ENOENT``, ``ENOTDIR``,
    ``EISDIR``): ``ModelArts.4312`` like any missing path; anything else (too long, a link,
    permission, not a regular file...): ``ModelArts.4374`` like any refused path.
    """
    reason = f"{what}: {path_reason(exc)}."
    if exc.errno in _NOT_FOUND:
        return PathNotFoundError(reason)
    return InvalidPathError(reason)
