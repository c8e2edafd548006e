"""Where imported files come from: a local folder under an import root, or object-store keys.

Locations
---------
* An absolute local path must lie under a configured import root and never in the data dir
  (:class:`labelarts.services.paths.ImportRoots`); symbolic links are resolved first, so a link
  cannot lead out. Local files are referenced in place: ``source_kind`` "local", ``source_key``
  the resolved absolute path.
* ``obs://<key prefix>`` or ``s3://<key prefix>`` names keys in LabelArts' own configured object
  store (there are no buckets: the whole text after the scheme is a key prefix). Keys under the
  store's reserved prefixes (:data:`RESERVED_PREFIXES`: LabelArts' own dataset files and
  thumbnails, which belong to projects) are refused. ``source_kind`` "object",
  ``source_key`` the key.

Walking
-------
:class:`LocalTree` walks a folder with ``os.scandir`` and an explicit stack of folders (no
recursion, no list of files): memory stays flat whatever the folder holds. Symbolic links to
files are followed only if the target lies under an import root (and outside the data dir);
links to folders are not followed. Hidden folders (``.name``) are not entered; hidden files are
skipped. Names with control characters or bytes that are not UTF-8 are refused.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from labelarts.errors import InvalidPathError, LabelArtsError, PathNotFoundError
from labelarts.services.importing.sniff import Rejected
from labelarts.services.paths import ImportRoots
from labelarts.storage.objects import FsspecObjectStore, ObjectStore
from labelarts.storage.objects.store import normalize_key

OBJECT_SCHEMES: Final = ("obs://", "s3://")
RESERVED_PREFIXES: Final = ("datasets", "thumbnails")
LOCAL, OBJECT = "local", "object"
_CHUNK: Final = 1024 * 1024


@dataclass(frozen=True)
class FileRef:
    """One file that may become a sample (or feed one, e.g. a text file's lines)."""

    rel: str  # path relative to the import path, for reports
    name: str
    label_dir: str | None  # name of the folder holding the file; None at the import path itself
    sample_dir: str  # absolute folder with a trailing "/" ("obs://..." for objects)
    source_kind: str
    source_key: str
    size: int
    mtime_ms: int | None


@dataclass(frozen=True)
class Failed:
    rel: str
    reason: str


@dataclass(frozen=True)
class Skipped:
    rel: str
    reason: str


WalkItem = FileRef | Failed | Skipped


@dataclass(frozen=True)
class Location:
    """A confined place: a local path (resolved) or an object key / key prefix."""

    kind: str  # LOCAL or OBJECT
    path: str  # resolved absolute path, or normalised key (prefix) without a trailing "/"

    @property
    def display(self) -> str:
        return self.path if self.kind == LOCAL else f"obs://{self.path}/"


# --- names ---------------------------------------------------------------------------------


def bad_name(name: str) -> str | None:
    """Why a file or folder name cannot be imported, or None."""
    for char in name:
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            return "name contains control characters"
        if 0xD800 <= code <= 0xDFFF:
            return "name is not valid UTF-8"
    return None


def printable(text: str) -> str:
    """``text`` with control characters and undecodable bytes escaped (for reports)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


# --- locations ------------------------------------------------------------------------------


def is_object_uri(raw: str) -> bool:
    return raw.startswith(OBJECT_SCHEMES)


def object_key(raw: str) -> str:
    """The key an ``obs://`` / ``s3://`` URI names, refused (400) if invalid or reserved."""
    scheme = next(s for s in OBJECT_SCHEMES if raw.startswith(s))
    return checked_key(raw[len(scheme) :])


def checked_key(key: str) -> str:
    parts = key.strip("/").split("/")
    if ".." in parts or "\x00" in key:
        raise InvalidPathError("Object paths must not contain '..' or NUL.")
    cleaned = normalize_key(key.strip("/") or ".")  # "." is refused: a prefix must be named
    if cleaned.split("/", 1)[0] in RESERVED_PREFIXES:
        raise InvalidPathError("This object-store prefix is reserved for LabelArts' own files.")
    return cleaned


def local_file(roots: ImportRoots, raw: str) -> Path:
    """A regular file under an import root (resolved), or a 400 saying why not."""
    if "\x00" in raw or not raw.startswith("/"):
        raise InvalidPathError("A local path must be absolute.")
    real = Path(raw).resolve()
    roots.resolve(str(real.parent))  # confinement: roots, never the data dir
    if not real.is_file():
        raise PathNotFoundError("The file does not exist or is not a regular file.")
    return real


def dir_location(roots: ImportRoots, objects: ObjectStore, raw: str) -> Location:
    if is_object_uri(raw):
        key = object_key(raw)
        if next(iter(objects.list(key)), None) is None:
            raise PathNotFoundError("No object exists under this prefix.")
        return Location(OBJECT, key)
    return Location(LOCAL, str(roots.resolve(raw)))


def file_location(roots: ImportRoots, objects: ObjectStore, raw: str) -> Location:
    if is_object_uri(raw):
        key = object_key(raw)
        if not objects.exists(key):
            raise PathNotFoundError("The manifest object does not exist.")
        return Location(OBJECT, key)
    return Location(LOCAL, str(local_file(roots, raw)))


def relative_to(roots: ImportRoots, base: Location, raw: str) -> Location:
    """Resolve a path found inside a manifest (``source``, ``annotation-loc``).

    Absolute local paths, ``file://`` paths and ``obs://``/``s3://`` URIs stand for
    themselves; a relative path is relative to the manifest's folder (or key prefix). Each is
    confined like an import path; ``..`` is refused outright. Raises :class:`LabelArtsError`.
    """
    if "\x00" in raw:
        raise InvalidPathError("path contains NUL")
    if is_object_uri(raw):
        return Location(OBJECT, object_key(raw))
    if raw.startswith("file://"):
        raw = raw[len("file://") :]
    if "://" in raw:
        raise InvalidPathError(f"unsupported source scheme: {raw.split('://', 1)[0]}")
    if ".." in raw.replace("\\", "/").split("/"):
        raise InvalidPathError("path contains '..'")
    if raw.startswith("/"):
        return Location(LOCAL, str(local_file(roots, raw)))
    if base.kind == OBJECT:
        return Location(OBJECT, checked_key(posixpath.join(posixpath.dirname(base.path), raw)))
    return Location(LOCAL, str(local_file(roots, str(Path(base.path).parent / raw))))


def _inside(roots: ImportRoots, real: Path) -> bool:
    try:
        roots.resolve(str(real.parent))
    except LabelArtsError:
        return False
    return True


# --- file references ------------------------------------------------------------------------


def local_ref(path: Path, rel: str, *, name: str | None = None, label_dir: str | None = None) -> FileRef:
    """A reference to a resolved local file (``stat`` follows nothing: the path is real)."""
    st = path.stat()
    return FileRef(
        rel=rel,
        name=name or path.name,
        label_dir=label_dir,
        sample_dir=f"{path.parent}/" if str(path.parent) != "/" else "/",
        source_kind=LOCAL,
        source_key=str(path),
        size=st.st_size,
        mtime_ms=st.st_mtime_ns // 1_000_000,
    )


def object_ref(objects: ObjectStore, key: str, rel: str, *, label_dir: str | None = None) -> FileRef:
    size, mtime = _object_info(objects, key)
    folder = posixpath.dirname(key)
    return FileRef(
        rel=rel,
        name=posixpath.basename(key),
        label_dir=label_dir,
        sample_dir=f"obs://{folder}/" if folder else "obs://",
        source_kind=OBJECT,
        source_key=key,
        size=size,
        mtime_ms=mtime,
    )


def _object_info(objects: ObjectStore, key: str) -> tuple[int, int | None]:
    """Size (-1 if unknown) and modification time (epoch ms) of an object."""
    if not isinstance(objects, FsspecObjectStore):
        return -1, None
    try:
        info = objects.fs.info(f"{objects.root}/{normalize_key(key)}")
    except (OSError, ValueError):
        return -1, None
    size = int(info.get("size") or 0)
    mtime = info.get("mtime") or info.get("LastModified") or info.get("created")
    if hasattr(mtime, "timestamp"):
        mtime = mtime.timestamp()
    return size, int(float(mtime) * 1000) if isinstance(mtime, int | float) else None


class LocalTree:
    """Every file under a resolved local folder, in ``os.scandir`` order, folder by folder."""

    def __init__(self, roots: ImportRoots, root: Path) -> None:
        self._roots = roots
        self.root = root

    def count(self) -> int:
        """A quick count of the files (no ``stat``), for progress estimates."""
        total = 0
        stack = [self.root]
        while stack:
            try:
                with os.scandir(stack.pop()) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            if not entry.name.startswith("."):
                                stack.append(Path(entry.path))
                        else:
                            total += 1
            except OSError:
                continue
        return total

    def walk(self) -> Iterator[WalkItem]:
        stack: list[tuple[Path, str]] = [(self.root, "")]
        while stack:
            folder, rel_dir = stack.pop()
            try:
                entries = os.scandir(folder)
            except OSError as exc:
                yield Failed(printable(rel_dir or "."), f"folder cannot be read: {exc.strerror}")
                continue
            label_dir = folder.name if rel_dir else None
            with entries:
                for entry in entries:
                    rel = rel_dir + entry.name
                    bad = bad_name(entry.name)
                    if bad is not None:
                        yield Failed(printable(rel), bad)
                        continue
                    try:
                        if entry.is_symlink():
                            yield self._link(Path(entry.path), rel, entry.name, label_dir)
                        elif entry.is_dir(follow_symlinks=False):
                            if not entry.name.startswith("."):
                                stack.append((Path(entry.path), rel + "/"))
                        elif entry.name.startswith("."):
                            yield Skipped(rel, "hidden file")
                        elif not entry.is_file(follow_symlinks=False):
                            yield Failed(rel, "not a regular file")
                        else:
                            st = entry.stat(follow_symlinks=False)
                            yield FileRef(
                                rel=rel,
                                name=entry.name,
                                label_dir=label_dir,
                                sample_dir=f"{folder}/",
                                source_kind=LOCAL,
                                source_key=entry.path,
                                size=st.st_size,
                                mtime_ms=st.st_mtime_ns // 1_000_000,
                            )
                    except OSError as exc:
                        yield Failed(rel, f"cannot be read: {exc.strerror}")

    def _link(self, link: Path, rel: str, name: str, label_dir: str | None) -> WalkItem:
        real = link.resolve()
        if not _inside(self._roots, real):
            return Failed(rel, "symbolic link leads outside the import roots")
        if real.is_dir():
            return Skipped(rel, "symbolic link to a folder (not followed)")
        if not real.is_file():
            return Failed(rel, "broken symbolic link or not a regular file")
        if name.startswith("."):
            return Skipped(rel, "hidden file")
        return local_ref(real, rel, name=name, label_dir=label_dir)


class ObjectTree:
    """Every object under a key prefix (the store lists them sorted)."""

    def __init__(self, objects: ObjectStore, prefix: str) -> None:
        self._objects = objects
        self.prefix = prefix
        self._keys: list[str] | None = None

    def _all(self) -> list[str]:
        if self._keys is None:
            self._keys = list(self._objects.list(self.prefix))
        return self._keys

    def count(self) -> int:
        return len(self._all())

    def walk(self) -> Iterator[WalkItem]:
        for key in self._all():
            rel = key[len(self.prefix) + 1 :] if key.startswith(self.prefix + "/") else key
            parts = rel.split("/")
            bad = next((b for b in map(bad_name, parts) if b), None)
            if bad is not None:
                yield Failed(printable(rel), bad)
            elif any(p.startswith(".") for p in parts[:-1]):
                continue  # inside a hidden folder, which a folder walk would not enter
            elif parts[-1].startswith("."):
                yield Skipped(rel, "hidden file")
            else:
                yield object_ref(self._objects, key, rel, label_dir=parts[-2] if len(parts) > 1 else None)


# --- reading --------------------------------------------------------------------------------


@contextmanager
def open_ref(objects: ObjectStore, kind: str, key: str) -> Iterator[IO[bytes]]:
    """Open a referenced file for reading.

    Local files are opened with ``O_NOFOLLOW | O_NONBLOCK`` and must be regular files, so a
    file swapped for a link or a FIFO after the walk is refused instead of followed or waited on.
    """
    if kind == LOCAL:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(key, flags | getattr(os, "O_CLOEXEC", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(0, "not a regular file")
            fh = os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise
        with fh:
            yield fh
        return
    if isinstance(objects, FsspecObjectStore):
        with objects.fs.open(f"{objects.root}/{normalize_key(key)}", "rb") as fh:
            yield fh
        return
    yield io.BytesIO(objects.get(key))


def read_capped(fh: IO[bytes], limit: int, what: str) -> bytes:
    data = fh.read(limit + 1)
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
