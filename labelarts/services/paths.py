"""What each project may reach: granted import roots (local folders) and object-store prefixes.

The operator grants roots and prefixes to projects in the settings (:class:`~labelarts.config.
Grant`, docs/configuration.md). :meth:`Grants.scope` gives a project's view, the one place
that decides whether a path or key a request names belongs to that project:

* a local path is matched *lexically* against the roots granted to the project (``..`` and
  NUL refused, nothing resolved): the result is a :class:`LocalPath`, a root and a path
  relative to it, which is then opened only through :class:`~labelarts.storage.localfs.
  LocalRoot` (confined by the kernel when opened). The data dir, anything in it and any
  folder holding it are refused whatever the grants say;
* an object key must lie under a prefix granted to the project and outside LabelArts' own
  prefixes (``datasets/``, ``thumbnails/``);
* a bare grant (``PATH`` without ``=``) is open to every project while the install has one
  project, and to none once a second exists, so adding a project never silently shares a
  folder.
"""

from __future__ import annotations

import logging
import posixpath
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sqlalchemy import func, select

from labelarts.config import Grant
from labelarts.errors import InvalidPathError, LabelArtsError
from labelarts.storage.db import Database
from labelarts.storage.db.models import Project
from labelarts.storage.localfs import LocalRoot, path_error

log = logging.getLogger("labelarts.paths")

RESERVED_PREFIXES: Final = ("datasets", "thumbnails")
_BARE_HINT: Final = (
    " (a root configured without projects is open only while one project exists; the operator "
    "can grant it with PATH=PROJECT_ID or PATH=*)"
)


@dataclass(frozen=True)
class _Root:
    local: LocalRoot
    spellings: tuple[str, ...]  # the resolved path, and the path as configured (if different)
    grant: Grant


@dataclass(frozen=True)
class LocalPath:
    """A path below a granted root: open it with ``root.open_file(rel)`` and friends."""

    root: LocalRoot
    rel: str  # "" for the root itself
    delete_allowed: bool

    @property
    def path(self) -> str:
        """The absolute path as stored (the root's resolved path, then ``rel``)."""
        # rel is in normal form (below a root, from normpath'd paths), so a string join gives
        # what pathlib's join gives, in a fraction of the time (a manifest's every line).
        root = str(self.root.path)
        return posixpath.join(root, self.rel) if self.rel else root

    @property
    def name(self) -> str:
        return posixpath.basename(self.rel) if self.rel else self.root.path.name

    def child(self, rel: str) -> LocalPath:
        joined = posixpath.join(self.rel, rel) if self.rel else rel
        return LocalPath(self.root, joined, self.delete_allowed)


def clean_local(raw: str) -> str:
    """An absolute local path in normal form; 400 for a relative path, ``..`` or NUL."""
    if "\x00" in raw or not raw.startswith("/"):
        raise InvalidPathError("A local path must be absolute.")
    if ".." in raw.split("/"):
        raise InvalidPathError("A local path must not contain '..'.")
    return posixpath.normpath(raw)


def _below(path: str, base: str) -> str | None:
    """``path`` relative to ``base`` ("" if equal), or None if it is not below it."""
    if path == base:
        return ""
    prefix = base if base.endswith("/") else base + "/"
    return path[len(prefix) :] if path.startswith(prefix) else None


class Grants:
    """The configured roots and prefixes; :meth:`scope` is one project's view of them."""

    def __init__(
        self,
        roots: Iterable[Grant],
        prefixes: Iterable[Grant],
        data_dir: Path,
        *,
        count_projects: Callable[[], int],
        mode: str | None = None,
        noun: str = "import roots",
        flag: str = "--import-root",
    ) -> None:
        self.noun, self.flag = noun, flag
        self._roots: list[_Root] = []
        for grant in roots:
            written = Path(grant.path).expanduser().absolute()
            resolved = written.resolve()
            spellings = tuple(dict.fromkeys([str(resolved), posixpath.normpath(str(written))]))
            self._roots.append(_Root(LocalRoot(resolved, mode=mode), spellings, grant))
        self._prefixes = [(_clean_prefix(g.path), g) for g in prefixes]
        data = data_dir.expanduser().absolute()
        self._data_dirs = tuple(dict.fromkeys([str(data.resolve()), posixpath.normpath(str(data))]))
        self._count_projects = count_projects
        self._several = False
        self._lock = threading.Lock()

    @property
    def roots(self) -> list[Path]:
        return [root.local.path for root in self._roots]

    def single_project(self) -> bool:
        """Whether the install has at most one project (bare grants are open while it does).

        Once a second project is seen the answer stays False for the life of the process;
        until then each call counts them (one small query; a :class:`ProjectScope` asks once).
        """
        if self._several:
            return False
        with self._lock:
            if not self._several and self._count_projects() > 1:
                self._several = True
                log.warning(
                    "a second project exists: import roots and object prefixes configured "
                    "without projects are closed to all projects (grant them with =PROJECT_ID or =*)"
                )
        return not self._several

    def scope(self, project_id: str) -> ProjectScope:
        return ProjectScope(self, project_id)


class ProjectScope:
    """The roots and prefixes one project may reach, and the checks every path goes through."""

    def __init__(self, grants: Grants, project_id: str) -> None:
        self._grants = grants
        self.project_id = project_id
        self._single: bool | None = None  # asked once per scope (a scope lives for one call)

    def _open(self, grant: Grant) -> bool:
        if grant.bare:
            if self._single is None:
                self._single = self._grants.single_project()
            return self._single
        return grant.opens_to(self.project_id, single_project=False)

    # --- local paths ------------------------------------------------------------------------

    def local(self, raw: str) -> LocalPath:
        """The granted root ``raw`` lies under (the deepest one); 400 if none, or the data dir."""
        path = clean_local(raw)
        for data_dir in self._grants._data_dirs:
            if _below(path, data_dir) is not None or _below(data_dir, path) is not None:
                raise InvalidPathError("The LabelArts data directory cannot be imported.")
        best: tuple[int, LocalPath] | None = None
        bare_refused = False
        for root in self._grants._roots:
            for spelling in root.spellings:
                rel = _below(path, spelling)
                if rel is None:
                    continue
                if not self._open(root.grant):
                    bare_refused = bare_refused or root.grant.bare
                    continue
                if best is None or len(spelling) > best[0]:
                    best = (len(spelling), LocalPath(root.local, rel, root.grant.delete))
        if best is None:
            hint = _BARE_HINT if bare_refused else ""
            raise InvalidPathError(
                f"The path is outside the {self._grants.noun} granted to this project "
                f"(see {self._grants.flag}){hint}."
            )
        return best[1]

    def folder(self, raw: str, what: str = "data_path") -> LocalPath:
        """A granted local folder that exists (400 otherwise, with the reason)."""
        found = self.local(raw)
        try:
            with found.root.open_dir(found.rel):
                pass
        except OSError as exc:
            raise path_error(exc, what) from None
        return found

    def file(self, raw: str, what: str = "The file") -> LocalPath:
        """A granted regular file that exists (400 otherwise, with the reason)."""
        found = self.local(raw)
        try:
            found.root.stat_file(found.rel)
        except OSError as exc:
            raise path_error(exc, what) from None
        return found

    def find_local(self, raw: str) -> LocalPath | None:
        """:meth:`local` or None (for paths read back from the database)."""
        try:
            return self.local(raw)
        except LabelArtsError:
            return None

    # --- object keys ------------------------------------------------------------------------

    def object_key(self, key: str) -> str:
        """``key`` (a key or key prefix) if it lies under a prefix granted to the project."""
        cleaned = checked_key(key)
        bare_refused = False
        for prefix, grant in self._grants._prefixes:
            if prefix and _below(cleaned, prefix) is None:
                continue
            if self._open(grant):
                return cleaned
            bare_refused = bare_refused or grant.bare
        hint = _BARE_HINT if bare_refused else ""
        raise InvalidPathError(
            f"The object prefix is not granted to this project (see --object-prefix){hint}."
        )

    def may_delete_object(self, key: str) -> bool:
        """Whether ``delete_source`` may remove this (non-LabelArts) object."""
        for prefix, grant in self._grants._prefixes:
            if (not prefix or _below(key, prefix) is not None) and grant.delete and self._open(grant):
                return True
        return False

    # --- what answers may show --------------------------------------------------------------

    def shows(self, location: str) -> bool:
        """Whether an answer to this project may show ``location`` (a local path, or obs://)."""
        if location.startswith(("obs://", "s3://")):
            key = location.split("://", 1)[1].strip("/")
            try:
                self.object_key(key or ".")
            except LabelArtsError:
                return False
            return True
        if not location.startswith("/"):
            return True  # not a host path (LabelArts' own inner paths, empty)
        return self.find_local(location.rstrip("/") or "/") is not None


def project_counter(db: Database) -> Callable[[], int]:
    """How many projects the install has (for bare grants)."""

    def count() -> int:
        with db.session() as session:
            return int(session.execute(select(func.count()).select_from(Project)).scalar_one())

    return count


def _clean_prefix(prefix: str) -> str:
    stripped = prefix.strip().strip("/")
    if not stripped:
        return ""  # the whole store
    if ".." in stripped.split("/") or "\x00" in stripped:
        raise ValueError(f"invalid object prefix {prefix!r}")
    return posixpath.normpath(stripped)


def checked_key(key: str) -> str:
    """A normalised key or key prefix; 400 for ``..``, NUL, or LabelArts' reserved prefixes."""
    parts = key.strip("/").split("/")
    if ".." in parts or "\x00" in key or "\\" in key:
        raise InvalidPathError("Object paths must not contain '..', '\\' or NUL.")
    cleaned = posixpath.normpath(key.strip("/") or ".")
    if cleaned in (".", ""):
        raise InvalidPathError("An object path must name a key prefix.")
    if cleaned.split("/", 1)[0] in RESERVED_PREFIXES:
        raise InvalidPathError("This object-store prefix is reserved for LabelArts' own files.")
    return cleaned
