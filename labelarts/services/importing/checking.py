"""Reading and checking one file for import, in the importing process or in worker processes.

Reading a small file, hashing it and checking it (its kind by content, its size caps, an
image's header and a 1/8-scale decode that catches truncation) is most of an import's CPU, and
nearly all of it is Python holding the GIL (Pillow's header parsing, the confined open), so
threads do not help. A large import of local files therefore hands these checks, a chunk of
files at a time, to a small pool of worker *processes* (:class:`CheckPool`) while the
importing process walks, reads labels and writes samples: both cores work.

Both paths run the same function (:func:`check_file`) and give the same outcome for every
file: a :class:`Checked` or the failure reason the task reports. Files are opened exactly as
in the importing process: below their import root's descriptor, links refused
(:class:`~labelarts.storage.localfs.LocalRoot`). docs/imports.md, "Worker processes".
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, NamedTuple

from labelarts.services.importing.sniff import (
    HEAD_BYTES,
    MAX_BYTES,
    Kind,
    Rejected,
    check_kind,
    inspect_image,
)
from labelarts.storage.localfs import LocalRoot, path_reason

__all__ = [
    "CheckPool",
    "CheckPoolSettings",
    "Checked",
    "LocalItem",
    "RefusedFile",
    "check_file",
    "failure_reason",
    "hash_rest",
    "image_size",
    "read_capped",
    "read_file",
    "unopened_failure",
]

_CHUNK: Final = 1024 * 1024  # hash_rest's reads
_FIRST_READ: Final = 64 * 1024  # the step of the reads past the expected size (at EOF: one empty read)

_LARGEST: int = max(MAX_BYTES.values())
# How often a check process looks whether the importing process is still there.
PARENT_WATCH_S: Final = 1.0


@dataclass(frozen=True)
class CheckPoolSettings:
    """When an import checks its local files in worker processes, and in how many."""

    processes: int = 0  # 0: check in the importing process
    min_files: int = 2000  # an import this large (seen or expected) starts the processes


class Checked(NamedTuple):
    """A file that can become a sample (NamedTuple: it crosses the process boundary cheaply)."""

    kind: Kind
    digest: str  # SHA-256, hex
    size: int
    image_size: tuple[int, int, int] | None  # width, height, depth of a checked image
    data: bytes  # the content of a text file (its lines become samples); b"" for others
    mtime_ms: int | None = None  # set where the check opened a file nobody had opened before


class RefusedFile(NamedTuple):
    """A file first opened by its check and refused: why, and its size (for the task's totals)."""

    reason: str
    size: int


class LocalItem(NamedTuple):
    """One local file for the pool: its import root (path and open mode) and where below it.

    ``source``: set for a manifest line's file that the importing process did not open (its
    size and time are unknown, ``listed_size`` -1): the check opens it, takes its size and time
    from that open, and words a failure to open it as the line's ``source`` failure.
    """

    root: str
    mode: str
    rel: str
    name: str
    listed_size: int
    source: str | None = None


def read_file(
    open_file: Callable[[], AbstractContextManager[IO[bytes]]], name: str, listed_size: int, wanted: Kind
) -> tuple[Kind, bytes, str, int]:
    """``(kind, bytes, sha256, size)`` of a file the dataset may take; bytes only for images and
    text (other kinds are hashed as they stream). :class:`Rejected` or ``OSError`` otherwise."""
    if listed_size == 0:
        raise Rejected("empty file")
    if listed_size > _LARGEST:
        raise Rejected(f"file is larger than the limit of {_LARGEST} bytes")
    with open_file() as fh:
        head = fh.read(HEAD_BYTES)
        if not head:
            raise Rejected("empty file")
        kind = check_kind(head, name, wanted)
        limit = MAX_BYTES[kind]
        if listed_size > limit:
            raise Rejected(f"file is larger than the limit of {limit} bytes for {kind} files")
        if kind in (Kind.IMAGE, Kind.TEXT):
            data = head + read_capped(fh, limit - len(head), "file", expected=listed_size - len(head))
            return kind, data, hashlib.sha256(data).hexdigest(), len(data)
        digest, size = hash_rest(fh, head, limit)
        return kind, b"", digest, size


def image_size(data: bytes, wanted: Kind) -> tuple[int, int, int] | None:
    """Width, height and depth of a whole image; :class:`Rejected` if it is broken, except in a
    free-format dataset, which takes any file (broken images too: None)."""
    try:
        info = inspect_image(data)
    except Rejected:
        if wanted is Kind.OTHER:
            return None
        raise
    return info.width, info.height, info.depth


def check_file(
    open_file: Callable[[], AbstractContextManager[IO[bytes]]], name: str, listed_size: int, wanted: Kind
) -> Checked:
    """Read and check one file (:func:`read_file`, then :func:`image_size` for an image)."""
    kind, data, digest, size = read_file(open_file, name, listed_size, wanted)
    found = image_size(data, wanted) if kind is Kind.IMAGE else None
    return Checked(kind, digest, size, found, data if kind is Kind.TEXT else b"")


def failure_reason(exc: Rejected | OSError) -> str:
    """The reason a file's failure gives in the task report."""
    if isinstance(exc, Rejected):
        return exc.reason
    return f"cannot be read: {exc.strerror or exc}"


def read_capped(fh: IO[bytes], limit: int, what: str, *, expected: int | None = None) -> bytes:
    """The rest of ``fh``; :class:`Rejected` past ``limit`` bytes.

    ``expected`` (the size the listing gave) sizes the first read: ``read(limit + 1)`` makes
    Python allocate ``limit + 1`` bytes up front, a 64 MiB buffer (about 35 µs) for every
    4 KB image. The reads go on until the end of the file whatever ``expected`` says, so a
    file that grew since it was listed is still read whole, and refused past ``limit``.
    """
    first = limit + 1 if expected is None or expected < 0 else min(expected, limit) + 1
    data = fh.read(first)
    while len(data) <= limit:
        more = fh.read(min(limit + 1 - len(data), max(len(data), _FIRST_READ)))
        if not more:
            break
        data += more
    if len(data) > limit:
        raise Rejected(f"{what} is larger than the limit of {limit} bytes")
    return data


def hash_rest(fh: IO[bytes], head: bytes, limit: int) -> tuple[str, int]:
    """SHA-256 and size of ``head`` plus the rest of ``fh``, streamed in 1 MiB chunks."""
    digest = hashlib.sha256(head)
    size = len(head)
    while chunk := fh.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise Rejected(f"file is larger than the limit of {limit} bytes")
        digest.update(chunk)
    return digest.hexdigest(), size


# --------------------------------------------------------------------------- worker processes


@functools.lru_cache(maxsize=16)
def _root(path: str, mode: str) -> LocalRoot:
    return LocalRoot(Path(path), mode=mode)


def check_local_files(items: Sequence[LocalItem], wanted: Kind) -> list[Checked | str | RefusedFile]:
    """:func:`check_file` for each item (in a worker process): a :class:`Checked` or the reason.

    The root is opened once for a run of items below it, not once per file."""
    results: list[Checked | str | RefusedFile] = []
    with contextlib.ExitStack() as stack:
        held: tuple[str, str] | None = None
        root_fd: int | None = None
        for item in items:
            root = _root(item.root, item.mode)
            if held != (item.root, item.mode):
                stack.close()
                held = (item.root, item.mode)
                try:
                    root_fd = stack.enter_context(root.opened())
                except OSError:
                    root_fd = None  # each file's own open then fails as it would in-process
            if item.source is not None:
                results.append(_check_unopened(root, root_fd, item, wanted))
                continue
            opener = functools.partial(root.open_binary, item.rel, root_fd=root_fd)
            try:
                results.append(check_file(opener, item.name, item.listed_size, wanted))
            except (Rejected, OSError) as exc:
                results.append(failure_reason(exc))
    return results


def _check_unopened(
    root: LocalRoot, root_fd: int | None, item: LocalItem, wanted: Kind
) -> Checked | str | RefusedFile:
    """:func:`check_file` of a file first opened here: its size and time come from this open
    (one open per file instead of a stat in the importing process and an open here)."""
    try:
        fh = root.open_binary(item.rel, root_fd=root_fd)
    except OSError as exc:
        return unopened_failure(item.source or "", exc)
    with fh:
        st = os.fstat(fh.fileno())
        try:
            checked = check_file(lambda: contextlib.nullcontext(fh), item.name, st.st_size, wanted)
        except (Rejected, OSError) as exc:
            return RefusedFile(failure_reason(exc), st.st_size)
    return checked._replace(mtime_ms=st.st_mtime_ns // 1_000_000)


def unopened_failure(source: str, exc: OSError) -> str:
    """The reason a manifest line fails when its file cannot be opened (``source``: printable),
    worded alike wherever it is opened: the importing process or a check process."""
    return f"source {source}: {path_reason(exc)}"


def _end_with(importer_pid: int) -> None:
    """A check process's start: it ends itself once the importing process is gone.

    The executor's processes wait on a queue whose writing end they hold themselves, and each
    holds the fork server's "parent alive" pipe: when the importing process is killed (a worker
    lost to ``kill -9`` or the out-of-memory killer), nothing would end them, nor the fork server,
    and every such loss would leave them behind, idle, until the machine restarts.
    """

    def watch() -> None:
        while not _gone(importer_pid):
            time.sleep(PARENT_WATCH_S)
        os._exit(0)

    threading.Thread(target=watch, name="importer-watch", daemon=True).start()


def _gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie, not yet reaped by its parent, has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # there, another user's (the pid was reused)
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False  # no /proc (not Linux): kill() said it is there


class CheckPool:
    """Worker processes that run :func:`check_local_files` on chunks of files.

    The processes come from a fork server that has imported this module once, so they start
    in milliseconds and carry none of the importing process's threads or connections. The
    caller keeps ``ahead`` chunks in flight: while the pool checks them, it writes the samples
    of the chunk before.
    """

    def __init__(self, processes: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        self.processes = processes
        self.ahead = 2 * processes
        self._executor = ProcessPoolExecutor(
            max_workers=processes, mp_context=context, initializer=_end_with, initargs=(os.getpid(),)
        )

    def submit(self, items: Sequence[LocalItem], wanted: Kind) -> Future[list[Checked | str | RefusedFile]]:
        return self._executor.submit(check_local_files, list(items), wanted)

    def close(self, *, broken: bool = False) -> None:
        """Stop the processes; ``broken``: one of them died, so end the others first.

        When a worker dies, CPython 3.11's executor terminates the others and joins them, but
        a worker it started for a submit that raced the breakage is not terminated, and is
        joined for ever (it waits on a queue nobody writes to any more), as is then every
        ``shutdown`` and the interpreter's exit. Terminating what is still alive ends that.
        """
        if broken:
            # The executor keeps no public list of its processes.
            for process in list(getattr(self._executor, "_processes", {}).values()):
                if process.is_alive():
                    process.terminate()
        self._executor.shutdown(wait=True, cancel_futures=True)
