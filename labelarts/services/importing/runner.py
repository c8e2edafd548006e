"""The import pipeline: walk (or read a manifest), check each file, insert samples in batches.

Flow, with memory flat whatever the source holds:

1. entries come one at a time from :class:`~.sources.LocalTree` / :class:`~.sources.ObjectTree`
   or from the manifest's lines, in chunks of :data:`CHUNK`;
2. a chunk's source keys already in the dataset are skipped at once ("duplicate"), without
   reading the files, so re-importing a folder costs a walk and one query per chunk;
3. every other file is read once: its kind is checked against the dataset type
   (:mod:`.sniff`), its SHA-256 computed, its labels read (:mod:`.layouts`, :mod:`.manifest`);
4. samples are inserted :data:`BATCH` rows at a time, one short write transaction each (labels
   created in the dataset's label table as needed, ``data_version`` bumped), skipping content
   hashes the dataset already holds ("duplicate"). Batches count rows, not files: a text file
   of 100,000 lines is 200 transactions, never one statement binding every line;
5. after each chunk and each batch the counts go to the task (``TaskContext.report``), which is
   also where a stop request is noticed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import io
import itertools
import logging
import os
import posixpath
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import IO, Any, Final

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelarts.clock import now_ms
from labelarts.errors import ImportFailedError, ImportParameterError, LabelArtsError
from labelarts.formats.datumaro_import import FormatError, FormatItem, read_items
from labelarts.jobs.runner import StopRequested, TaskContext
from labelarts.services.importing import checking, sources, staging
from labelarts.services.importing.checking import Checked
from labelarts.services.importing.layouts import (
    CsvColumns,
    TextFormat,
    TextLine,
    base_of_result,
    csv_lines,
    label_name,
    lines_of,
    names_to_labels,
    parse_voc,
    result_name,
    text_lines,
)
from labelarts.services.importing.manifest import ManifestRecord, is_hard, parse_line
from labelarts.services.importing.report import Tally
from labelarts.services.importing.sniff import (
    Kind,
    Rejected,
    decode_text,
)
from labelarts.services.importing.sources import FileRef, Location
from labelarts.services.labels import share_or_create_labels
from labelarts.services.paths import LocalPath, ProjectScope
from labelarts.services.samples.records import (
    AUTO,
    MANUAL,
    LabelInput,
    bump_data_version,
    insert_sample_rows,
    new_sample_rows,
)
from labelarts.storage.db import Database
from labelarts.storage.db.dialect import chunked, is_unique_violation, refresh_statistics
from labelarts.storage.db.models import Dataset, Sample
from labelarts.storage.localfs import LocalRoot, path_reason
from labelarts.storage.objects import ObjectStore

_log = logging.getLogger(__name__)

CHUNK: Final = 256
BATCH: Final = 1000  # rows per write transaction (about 75 ms of SQLite at 100k rows)
REPORT_EVERY_S: Final = 0.25  # progress writes (and stop checks) at most this often
MAX_SIDECAR_BYTES: Final = 1024 * 1024
MAX_MANIFEST_LINE: Final = 16 * 1024 * 1024
ANALYZE_FIRST: Final = 1000
ESTIMATE_LINES_AFTER: Final = 64  # a manifest's lines read before its length in lines is estimated
FOLDERS_LISTED: Final = 4  # local folders whose names are kept to answer "is there a sidecar?"
MAX_KEY, MAX_NAME = 2048, 1024  # source_key, sample_dir / sample_name column sizes
IMPORT_DIR, IMPORT_MANIFEST = 0, 1
TEXT_PREFIX: Final = "datasets/{dataset_id}/data/text/"
_IMAGE_SUFFIXES: Final = tuple(
    s for ext in (".jpg", ".jpeg", ".png", ".bmp", ".webp") for s in (ext, ext.upper())
)
_SAMPLE_CONSTRAINT: Final = "uq_sample_dataset_source"


@dataclass(frozen=True)
class ImportSpec:
    """What to import and how (stored as the task's ``config``)."""

    import_type: int
    location: Location
    import_annotations: bool = True
    text_format: TextFormat = field(default_factory=TextFormat)
    final_annotation: bool = True
    difficult_only: bool = False
    included_labels: frozenset[str] = frozenset()
    excluded_labels: frozenset[str] = frozenset()
    # A folder import's annotation format (labelarts.formats.datumaro_import.FORMATS); None:
    # the ModelArts layouts, or a format the folder's layout names unambiguously.
    data_format: str | None = None
    # Text datasets: read .csv files as columns (with_column_header given); None: as lines.
    csv_columns: CsvColumns | None = None

    @property
    def filtering(self) -> bool:
        return bool(self.included_labels or self.excluded_labels or self.difficult_only)

    def to_config(self) -> dict[str, Any]:
        return (
            {
                "import_type": self.import_type,
                "import_path": self.location.display,
                "location": {"kind": self.location.kind, "path": self.location.path},
                "import_annotations": self.import_annotations,
                "label_format": self.text_format.to_dict(),
                "final_annotation": self.final_annotation,
                "difficult_only": self.difficult_only,
                "included_labels": sorted(self.included_labels),
                "excluded_labels": sorted(self.excluded_labels),
            }
            | ({"format": self.data_format} if self.data_format else {})
            | ({"csv": self.csv_columns.to_dict()} if self.csv_columns else {})
        )


@dataclass(frozen=True)
class Target:
    dataset_id: str
    dataset_type: int
    kind: Kind | None  # what files the dataset takes; None: it cannot import files


@dataclass
class Candidate:
    """One entry to turn into samples: a file (``ref``) or a manifest ``content://`` text."""

    rel: str
    ref: FileRef | None
    record: ManifestRecord | None = None
    # A manifest line's local file not opened yet (its ref's size -1, time None): where it is
    # granted, and the line's source as reports print it. Opened by a check process, or here.
    unopened: LocalPath | None = None
    shown: str = ""


@dataclass(frozen=True)
class Failure:
    """An entry (or one line of a text file) that cannot become a sample, and why."""

    rel: str
    reason: str


@dataclass
class Draft:
    rel: str
    source_kind: str
    source_key: str
    sample_name: str
    sample_dir: str
    size: int
    mtime_ms: int
    content_hash: str
    metadata: dict[str, Any]
    labels: list[LabelInput]
    hard: bool = False
    hard_coefficient: float | None = None
    text: str | None = None  # written to the object store (text samples have no file of their own)


@dataclass
class _Chunk:
    """A chunk of entries on its way: its candidates, the keys already in the dataset, and the
    pool's checks of its local files (``pooled``: candidate position -> position in the checks)."""

    candidates: list[Candidate] = field(default_factory=list)
    present: set[str] = field(default_factory=set)
    checks: Future[list[checking.Checked | str | checking.RefusedFile]] | None = None
    pooled: dict[int, int] = field(default_factory=dict)


class Importer:
    """Runs one import task body. ``run`` returns the final tally (the task's result)."""

    def __init__(
        self,
        *,
        db: Database,
        objects: ObjectStore,
        scope: ProjectScope,
        target: Target,
        spec: ImportSpec,
        ctx: TaskContext,
        checks: checking.CheckPoolSettings = checking.CheckPoolSettings(),
    ) -> None:
        self._db = db
        self._objects = objects
        self._scope = scope
        if target.kind is None:
            raise ImportParameterError("This dataset type cannot import files.")
        self._target = target
        self._kind = target.kind
        self._spec = spec
        self._ctx = ctx
        self._tally = Tally()
        self._pending: list[Draft] = []
        self._estimate = 0
        self._added_since_start = 0
        self._analyze_at = ANALYZE_FIRST
        self._progress = 0.0
        self._reported_at = 0.0
        self._origin = IMPORT_MANIFEST if spec.import_type == IMPORT_MANIFEST else IMPORT_DIR
        self._read_labels = spec.import_annotations or spec.filtering
        self._folder_listing: dict[str, frozenset[str]] = {}
        self._folder_labels: dict[tuple[str, int], list[LabelInput]] = {}
        self._folder_grants: dict[str, LocalPath | None] = {}
        self._held = contextlib.ExitStack()  # import roots' descriptors held for the import
        self._root_fds: dict[str, int] = {}
        self._checks = checks
        self._pool: checking.CheckPool | None = None
        self._pool_refused = False
        self._started_empty: bool | None = None

    # --- driver ---------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        try:
            return self._run()
        except OSError as exc:  # the source as a whole (a manifest, an object listing) failed
            raise ImportFailedError(f"The import source cannot be read: {exc.strerror or exc}") from None

    def _run(self) -> dict[str, Any]:
        entries = self._manifest_entries() if self._origin == IMPORT_MANIFEST else self._dir_entries()
        self._ctx.report(0.0, **self._result())
        self._reported_at = time.monotonic()
        pending: deque[_Chunk] = deque()
        try:
            for chunk in chunked(entries, CHUNK):
                pending.append(self._prepare_chunk(chunk))
                # With a pool, its next chunks are checked while this process writes this one's.
                while len(pending) > (self._pool.ahead if self._pool is not None else 0):
                    self._finish_chunk(pending.popleft())
                    self._report()
            while pending:
                self._finish_chunk(pending.popleft())
                self._report()
        finally:
            self._close_pool()
        self._flush()
        return self._result()

    def _result(self) -> dict[str, Any]:
        """The task's result so far (a sync reports its own counts: :mod:`.sync`)."""
        return self._tally.result()

    def _report(self) -> None:
        """Progress and counts to the task (where a stop request is noticed), at most every
        :data:`REPORT_EVERY_S`: each report is a write transaction of its own."""
        now = time.monotonic()
        if now - self._reported_at < REPORT_EVERY_S:
            return
        self._reported_at = now
        self._ctx.report(self._progress_now(), **self._result())

    def _progress_now(self) -> float:
        if self._origin == IMPORT_DIR:
            self._progress = self._tally.files_done / max(self._estimate, self._tally.files_seen, 1)
        return min(0.99, self._progress)

    def _prepare_chunk(self, chunk: list[Candidate | sources.Failed | sources.Skipped | None]) -> _Chunk:
        """Count what needs no reading, skip what the dataset holds, hand the rest's local files
        to the pool (when there is one)."""
        prepared = _Chunk()
        for item in chunk:
            if isinstance(item, Candidate):
                prepared.candidates.append(item)
            elif isinstance(item, sources.Failed):
                self._tally.fail(item.rel, item.reason)
                self._tally.files_done += 1
            elif isinstance(item, sources.Skipped):
                self._tally.skip(item.reason)
                self._tally.files_done += 1
            else:  # an annotation file, read with its sample
                self._tally.annotation_files += 1
                self._tally.files_done += 1
        prepared.present = self._present([c.ref for c in prepared.candidates if c.ref is not None])
        if self._checks.processes > 0 and not self._pool_refused:
            items: list[checking.LocalItem] = []
            for position, candidate in enumerate(prepared.candidates):
                local = self._local_item(candidate, prepared.present)
                if local is not None:
                    prepared.pooled[position] = len(items)
                    items.append(local)
            pool = self._check_pool() if items else None
            if pool is not None:
                try:
                    prepared.checks = pool.submit(items, self._kind)
                except (OSError, RuntimeError, BrokenProcessPool) as exc:  # processes cannot start
                    _log.warning("import %s: no check processes (%s); checking here", self._ctx.task_id, exc)
                    self._close_pool(refuse=True)
            if prepared.checks is None:
                prepared.pooled.clear()
        return prepared

    def _finish_chunk(self, prepared: _Chunk) -> None:
        checks: list[checking.Checked | str | checking.RefusedFile] = []
        if prepared.checks is not None:
            try:
                checks = prepared.checks.result()
            except BrokenProcessPool:
                # A worker process died (killed, out of memory): check in this process instead.
                _log.warning("import %s: file-check processes stopped; checking here", self._ctx.task_id)
                self._close_pool(refuse=True)
                prepared.pooled.clear()
        for position, candidate in enumerate(prepared.candidates):
            ref = candidate.ref
            if ref is not None and ref.source_key in prepared.present:
                # As when the line was read: a file that cannot be opened fails the line.
                failed = self._open_here(candidate) if candidate.unopened is not None else None
                if failed is not None:
                    self._tally.fail(candidate.rel, failed)
                else:
                    self._tally.skip("duplicate", sample=True)
            else:
                index = prepared.pooled.get(position)
                for result in self._outcome(candidate, checks[index] if index is not None else None):
                    if isinstance(result, Failure):
                        self._tally.fail(result.rel, result.reason)
                    else:
                        self._add(result)
            self._tally.files_done += 1
            ref = candidate.ref
            self._tally.bytes_done += max(ref.size, 0) if ref is not None else 0

    def _outcome(
        self, candidate: Candidate, checked: checking.Checked | str | checking.RefusedFile | None
    ) -> list[Draft | Failure]:
        """The drafts (or the failure) of one candidate, given the pool's check of its file if
        it had one. A manifest's file nobody had opened gets its size and time first: from the
        pool's open, or from opening it here when it was not handed to the pool."""
        if isinstance(checked, checking.RefusedFile):
            self._opened(candidate, checked.size, None)
            checked = checked.reason
        elif candidate.unopened is not None:
            if isinstance(checked, Checked):
                self._opened(candidate, checked.size, checked.mtime_ms)
            elif checked is None:
                failed = self._open_here(candidate)
                if failed is not None:
                    return [Failure(candidate.rel, failed)]
        outcome: list[Draft | Failure] = []
        self._candidate(candidate, outcome, checked)
        return outcome

    # --- the file-check pool ----------------------------------------------------------------

    def _check_pool(self) -> checking.CheckPool | None:
        """The pool, started once this import has seen ``checks.min_files`` files (or expects to):
        a small import never pays for starting processes."""
        if self._pool is None and max(self._estimate, self._tally.files_seen) >= self._checks.min_files:
            self._pool = checking.CheckPool(self._checks.processes)
        return self._pool

    def _close_pool(self, *, refuse: bool = False) -> None:
        pool, self._pool = self._pool, None
        self._pool_refused = self._pool_refused or refuse
        if pool is not None:
            pool.close(broken=refuse)

    def _local_item(self, candidate: Candidate, present: set[str]) -> checking.LocalItem | None:
        """What the pool needs to check ``candidate``'s file; None when this process checks it
        (object-store files, duplicates, paths no longer granted: their errors come from here)."""
        ref = candidate.ref
        if ref is None or ref.source_kind != sources.LOCAL or ref.source_key in present:
            return None
        if candidate.unopened is not None:
            grant = candidate.unopened
            root = grant.root
            return checking.LocalItem(str(root.path), root.mode, grant.rel, ref.name, -1, candidate.shown)
        found = self._grant_of(ref.source_key)
        if found is None:
            return None
        return checking.LocalItem(str(found.root.path), found.root.mode, found.rel, ref.name, ref.size)

    def _grant_of(self, path: str) -> LocalPath | None:
        """``ProjectScope.find_local(path)`` for a file: the grant of its folder (roots are
        folders, and a folder that is granted holds neither the data dir nor a way into it),
        looked up once per folder. A folder that is not granted (say, one that holds the
        data dir) says nothing of its files: each is looked up itself."""
        folder, _, name = path.rpartition("/")
        if folder not in self._folder_grants:
            if len(self._folder_grants) >= FOLDERS_LISTED * 256:
                self._folder_grants.clear()
            self._folder_grants[folder] = self._scope.find_local(folder or "/")
        found = self._folder_grants[folder]
        return self._scope.find_local(path) if found is None else found.child(name)

    def _root_fd(self, root: LocalRoot) -> int:
        """A descriptor on an import root, opened once for this import (closed when it ends)."""
        key = str(root.path)
        if key not in self._root_fds:
            self._root_fds[key] = self._held.enter_context(root.opened())
        return self._root_fds[key]

    def _present(self, refs: list[FileRef]) -> set[str]:
        """The source keys among ``refs`` the dataset already holds: they are not read again
        (a sync also re-reads the ones that changed, :mod:`.sync`).

        Into a dataset that was empty when this import started there is nothing to look up: a
        walk lists each file once, and a key that arrives twice anyway (a manifest's repeated
        line, a sync adding the same file meanwhile) is still caught where samples are written
        (:meth:`_insert`), only after its file was read."""
        if self._started_empty is None:  # the first chunk: nothing of this import written yet
            self._started_empty = not self._dataset_has_samples()
        if self._started_empty:
            return set()
        return self._existing_keys([ref.source_key for ref in refs])

    def _dataset_has_samples(self) -> bool:
        with self._db.session() as session:
            found = session.execute(
                select(Sample.id).where(Sample.dataset_id == self._target.dataset_id).limit(1)
            ).first()
        return found is not None

    # --- entries ----------------------------------------------------------------------------

    def _tree(self) -> sources.LocalTree | sources.ObjectTree:
        location = self._spec.location
        if location.kind == sources.LOCAL:
            return sources.LocalTree(self._scope.folder(location.path))
        return sources.ObjectTree(self._objects, location.path)

    def _dir_entries(self) -> Iterator[Candidate | sources.Failed | sources.Skipped | None]:
        fmt = self._spec.data_format or self._detect_format()
        return self._format_entries(fmt) if fmt else self._folder_entries()

    def _detect_format(self) -> str | None:
        location = self._spec.location

        def path(name: str) -> str:
            return posixpath.join(location.path, name)

        def has_file(name: str) -> bool:
            if name == staging.COCO_MARKER:
                return any(
                    posixpath.basename(key).startswith(staging.COCO_PREFIXES) and key.endswith(".json")
                    for key in self._folder_names("annotations")
                )
            return sources.ref_exists(self._objects, self._scope, location.kind, path(name))

        def has_folder(name: str) -> bool:
            return next(iter(self._folder_names(name)), None) is not None

        return staging.detect_format(has_file, has_folder)

    def _folder_names(self, name: str) -> list[str]:
        """Up to 1,000 names directly in a folder of the import path (none if it is not one)."""
        location = self._spec.location
        names: list[str] = []
        try:
            if location.kind == sources.LOCAL:
                base = self._scope.find_local(posixpath.join(location.path, name))
                if base is None:
                    return []
                with base.root.scandir(base.rel) as entries:
                    names = [entry.name for entry in itertools.islice(entries, 1000)]
            else:
                names = [
                    key.rsplit("/", 1)[-1]
                    for key in itertools.islice(self._objects.list(posixpath.join(location.path, name)), 1000)
                ]
        except (OSError, LabelArtsError):
            return []
        return names

    def _format_entries(self, fmt: str) -> Iterator[Candidate | sources.Failed | sources.Skipped | None]:
        """A folder in an annotation format: every file is staged (:mod:`.staging`), then
        Datumaro reads the staged copy and each of its items becomes a candidate whose file is
        read from the import path itself, as in any import."""
        tree = self._tree()
        self._estimate = tree.count()
        with staging.Staging(self._objects, self._scope) as staged:
            for item in tree.walk():
                self._tally.files_seen += 1
                if not isinstance(item, FileRef):
                    yield item
                    continue
                self._tally.bytes_seen += max(item.size, 0)
                try:
                    if staged.add(item):
                        yield None  # an annotation file
                    elif item.rel not in staged.images:
                        yield sources.Skipped(item.rel, "neither an image nor an annotation file")
                except Rejected as exc:
                    yield sources.Failed(item.rel, exc.reason)
                except OSError as exc:
                    yield sources.Failed(item.rel, f"cannot be read: {path_reason(exc)}")
            try:
                for found in read_items(staged.root, fmt, self._target.dataset_type):
                    yield self._format_candidate(staged, found)
            except FormatError as exc:
                raise ImportFailedError(f"The import path cannot be read as {fmt}: {exc}") from None
            for rel in list(staged.images):
                yield sources.Skipped(rel, "image not named by the annotations")

    def _format_candidate(self, staged: staging.Staging, found: FormatItem) -> Candidate | sources.Failed:
        shown = sources.printable(found.path[:200])
        if found.problem is not None:
            return sources.Failed(shown, found.problem)
        ref = staged.images.pop(found.path, None)
        if ref is None:
            return sources.Failed(shown, "no image file for this annotation in the import path")
        self._tally.ignored_annotations += found.ignored
        try:
            labels = [
                LabelInput(name=label_name(f.name), type=f.type, score=f.score, property=f.property)
                for f in found.labels
            ]
        except Rejected as exc:
            return sources.Failed(shown, exc.reason)
        return Candidate(rel=ref.rel, ref=ref, record=ManifestRecord(source=ref.rel, labels=labels))

    def _folder_entries(self) -> Iterator[Candidate | sources.Failed | sources.Skipped | None]:
        tree = self._tree()
        self._estimate = tree.count()
        for item in tree.walk():
            self._tally.files_seen += 1
            if not isinstance(item, FileRef):
                yield item
                continue
            self._tally.bytes_seen += max(item.size, 0)
            if self._is_annotation_file(item):
                yield None
            else:
                yield Candidate(rel=item.rel, ref=item)

    def _manifest_entries(self) -> Iterator[Candidate | sources.Failed | sources.Skipped | None]:
        location = self._spec.location
        name = posixpath.basename(location.path)
        with sources.open_ref(self._objects, self._scope, location.kind, location.path) as fh:
            size = _size_of(fh)
            offset = 0
            for number in itertools.count(1):
                raw = fh.readline(MAX_MANIFEST_LINE + 1)
                if not raw:
                    break
                offset += len(raw)
                if size:
                    self._progress = offset / size
                if len(raw) > MAX_MANIFEST_LINE and not raw.endswith(b"\n"):
                    while (more := fh.readline(MAX_MANIFEST_LINE)) and not more.endswith(b"\n"):
                        offset += len(more)
                    offset += len(more)
                    self._tally.files_seen += 1
                    yield sources.Failed(f"{name}:{number}", "line is too long")
                    continue
                if not raw.strip():
                    continue
                self._tally.files_seen += 1
                if self._tally.files_seen == ESTIMATE_LINES_AFTER and size:
                    # How many lines the manifest holds, from its first lines' length: a large
                    # one starts its check processes at its first chunk, not after min_files.
                    self._estimate = size * ESTIMATE_LINES_AFTER // offset
                yield self._manifest_line(location, f"{name}:{number}", raw, number == 1)

    def _manifest_line(
        self, location: Location, rel: str, raw: bytes, first: bool
    ) -> Candidate | sources.Failed:
        try:
            line = raw.decode("utf-8-sig" if first else "utf-8")
            record = parse_line(line, self._target.dataset_type, with_annotations=self._read_labels)
        except UnicodeDecodeError:
            return sources.Failed(rel, "line is not UTF-8")
        except Rejected as exc:
            return sources.Failed(rel, exc.reason)
        self._tally.ignored_annotations += record.ignored_annotations
        if record.content is not None:
            if self._kind is not Kind.TEXT:
                return sources.Failed(rel, "content:// sources need a text dataset")
            return Candidate(rel=rel, ref=None, record=record)
        shown = sources.printable(record.source[:200])
        try:
            found = sources.relative_to(self._scope, location, record.source)
            if found.kind == sources.LOCAL:
                grant = self._grant_of(found.path)
                if grant is None:  # as sources.granted refuses it
                    raise PermissionError(errno.EACCES, "not under an import root granted to this project")
                if self._opens_later():
                    ref = sources.local_ref(grant, rel, opened=False)
                    return Candidate(rel=rel, ref=ref, record=record, unopened=grant, shown=shown)
                ref = sources.local_ref(grant, rel, root_fd=self._root_fd(grant.root))
            else:
                if not self._objects.exists(found.path):
                    return sources.Failed(rel, f"source {shown}: the object does not exist")
                ref = sources.object_ref(self._objects, found.path, rel)
        except LabelArtsError as exc:
            return sources.Failed(rel, f"source {shown}: {exc.message}")
        except OSError as exc:
            return sources.Failed(rel, checking.unopened_failure(shown, exc))
        self._tally.bytes_seen += max(ref.size, 0)
        return Candidate(rel=rel, ref=ref, record=record)

    def _opens_later(self) -> bool:
        """Whether a manifest line's local file is left unopened until it is checked: with
        check processes, the process that reads the file also takes its size and time, and the
        importing process, the busier, does not open it too (it still opens a line's file that
        the dataset holds, to count its size or fail the line as before)."""
        return self._checks.processes > 0 and not self._pool_refused

    def _open_here(self, candidate: Candidate) -> str | None:
        """Size and time of a candidate's unopened file, taken here (it was not handed to a
        check process); the failure's reason if it cannot be opened."""
        grant = candidate.unopened
        assert grant is not None and candidate.ref is not None
        try:
            st = grant.root.stat_file(grant.rel, root_fd=self._root_fd(grant.root))
        except OSError as exc:
            return checking.unopened_failure(candidate.shown, exc)
        self._opened(candidate, st.st_size, st.st_mtime_ns // 1_000_000)
        return None

    def _opened(self, candidate: Candidate, size: int, mtime_ms: int | None) -> None:
        assert candidate.ref is not None
        candidate.ref = dataclasses.replace(candidate.ref, size=size, mtime_ms=mtime_ms)
        candidate.unopened = None
        self._tally.bytes_seen += size

    def _is_annotation_file(self, ref: FileRef) -> bool:
        """Sidecars that hold labels for a sample beside them, not samples themselves."""
        lower = ref.name.lower()
        dataset_type = self._target.dataset_type
        if dataset_type in (1, 3) and lower.endswith(".xml"):
            return True  # Pascal VOC; read with its image (or left alone if it has none)
        if dataset_type == 0 and lower.endswith(".txt"):
            return self._has_image_beside(ref)
        if dataset_type == 100 and self._spec.text_format.label_type == "0":
            base = base_of_result(ref.name)
            return base is not None and self._sibling_exists(ref, base)
        return False

    def _has_image_beside(self, ref: FileRef) -> bool:
        stem = ref.name.rsplit(".", 1)[0]
        return any(self._sibling_exists(ref, stem + suffix) for suffix in _IMAGE_SUFFIXES)

    def _sibling_path(self, ref: FileRef, name: str) -> str:
        if ref.source_kind == sources.LOCAL:
            return os.path.join(os.path.dirname(ref.source_key), name)
        return posixpath.join(posixpath.dirname(ref.source_key), name)

    def _sibling_exists(self, ref: FileRef, name: str) -> bool:
        if ref.source_kind == sources.LOCAL:
            names = self._names_in(os.path.dirname(ref.source_key))
            if names is not None and name not in names:
                return False  # most images have no sidecar: no stat() per file
        return sources.ref_exists(self._objects, self._scope, ref.source_kind, self._sibling_path(ref, name))

    def _names_in(self, folder: str) -> frozenset[str] | None:
        """The names in a local folder, listed once (the last few folders are kept: a walk goes
        folder by folder); None if it cannot be listed. A name found here is still checked
        (:func:`sources.ref_exists`) before it is read; only absent ones skip the check."""
        names = self._folder_listing.pop(folder, None)
        if names is None:
            try:
                found = sources.granted(self._scope, folder)
                with found.root.scandir(found.rel) as entries:
                    names = frozenset(entry.name for entry in entries)
            except (OSError, LabelArtsError):
                return None
        self._folder_listing[folder] = names  # most recent last
        while len(self._folder_listing) > FOLDERS_LISTED:
            del self._folder_listing[next(iter(self._folder_listing))]
        return names

    def _read_sibling(self, ref: FileRef, name: str) -> bytes | None:
        """A sidecar beside ``ref`` (None if there is none). :class:`Rejected` if unreadable."""
        if not self._sibling_exists(ref, name):
            return None
        try:
            path = self._sibling_path(ref, name)
            with sources.open_ref(self._objects, self._scope, ref.source_kind, path) as fh:
                return sources.read_capped(fh, MAX_SIDECAR_BYTES, f"annotation file {name}")
        except OSError as exc:
            raise Rejected(f"annotation file {name} cannot be read: {exc.strerror or exc}") from None

    # --- candidates -> drafts ----------------------------------------------------------------

    def _candidate(
        self, candidate: Candidate, sink: list[Draft | Failure], checked: Checked | str | None = None
    ) -> None:
        """Turn one entry into drafts (or a failure). ``checked`` is the file's check already
        done by the pool (:mod:`.checking`): a :class:`Checked` or the failure's reason."""
        if candidate.ref is None:
            assert candidate.record is not None and candidate.record.content is not None
            self._text_sample(
                candidate, candidate.record.content.strip(), candidate.record.labels, 0, None, sink
            )
            return
        ref = candidate.ref
        if isinstance(checked, str):
            sink.append(Failure(candidate.rel, checked))
            return
        try:
            if checked is None:
                checked = checking.check_file(self._opener(ref), ref.name, ref.size, self._kind)
            if checked.kind is Kind.TEXT:
                text = decode_text(checked.data)
                if candidate.record is None:  # a folder's text file: one sample per line
                    self._text_file(candidate, ref, text, sink)
                    return
            metadata: dict[str, Any] = {"@modelarts:import_origin": self._origin}
            if checked.image_size is not None:
                metadata["@modelarts:size"] = list(checked.image_size)
            labels, hard, coefficient = self._labels_of(candidate, ref)
        except (Rejected, OSError) as exc:
            sink.append(Failure(candidate.rel, checking.failure_reason(exc)))
            return
        if candidate.record is not None:
            metadata = {**candidate.record.metadata, **metadata}
        sink.append(
            Draft(
                rel=candidate.rel,
                source_kind=ref.source_kind,
                source_key=ref.source_key,
                sample_name=ref.name,
                sample_dir=ref.sample_dir,
                size=checked.size,
                mtime_ms=ref.mtime_ms or now_ms(),
                content_hash=checked.digest,
                metadata=metadata,
                labels=labels,
                hard=hard,
                hard_coefficient=coefficient,
            )
        )

    def _image_metadata(self, data: bytes) -> dict[str, Any]:
        found = checking.image_size(data, self._kind)
        return {} if found is None else {"@modelarts:size": list(found)}

    def _read(self, ref: FileRef) -> tuple[Kind, bytes, str, int]:
        """``(kind, bytes, sha256, size)``; bytes only for images and text (others are streamed)."""
        return checking.read_file(self._opener(ref), ref.name, ref.size, self._kind)

    def _opener(self, ref: FileRef) -> Callable[[], AbstractContextManager[IO[bytes]]]:
        return lambda: sources.open_ref(self._objects, self._scope, ref.source_kind, ref.source_key)

    def _labels_of(self, candidate: Candidate, ref: FileRef) -> tuple[list[LabelInput], bool, float | None]:
        """Labels, hard flag and hard coefficient of a (non-text) file sample."""
        record = candidate.record
        labels: list[LabelInput] = []
        if record is not None:
            labels = list(record.labels)
            for voc in record.voc:
                labels.extend(self._manifest_voc(voc.location, voc.label_type, voc.annotated_by))
            return labels, record.hard, record.hard_coefficient
        if not self._read_labels:
            return [], False, None
        dataset_type = self._target.dataset_type
        stem = ref.name.rsplit(".", 1)[0]
        if dataset_type == 0:
            sidecar = self._read_sibling(ref, f"{stem}.txt")
            if sidecar is not None:
                labels = names_to_labels(lines_of(decode_text(sidecar)), 0)
            elif ref.label_dir is not None:
                labels = self._folder_label(ref.label_dir, 0)
        elif dataset_type == 200 and ref.label_dir is not None:
            labels = self._folder_label(ref.label_dir, 200)
        elif dataset_type in (1, 3):
            xml = self._read_sibling(ref, f"{stem}.xml")
            if xml is not None:
                try:
                    labels = parse_voc(xml, dataset_type)
                except Rejected as exc:
                    raise Rejected(f"{stem}.xml: {exc.reason}") from None
        return labels, False, None

    def _folder_label(self, folder: str, label_type: int) -> list[LabelInput]:
        """The label a class folder gives each of its files (checked once per folder; the
        labels are shared between drafts, which never change them)."""
        key = (folder, label_type)
        labels = self._folder_labels.get(key)
        if labels is None:
            if len(self._folder_labels) >= FOLDERS_LISTED * 256:
                self._folder_labels.clear()
            labels = self._folder_labels[key] = names_to_labels([folder], label_type)
        return list(labels)

    def _manifest_voc(self, raw: str, label_type: int, annotated_by: str) -> list[LabelInput]:
        try:
            found = sources.relative_to(self._scope, self._spec.location, raw)
            with sources.open_ref(self._objects, self._scope, found.kind, found.path) as fh:
                data = sources.read_capped(fh, MAX_SIDECAR_BYTES * 4, "annotation file")
        except LabelArtsError as exc:
            raise Rejected(f"annotation-loc {sources.printable(raw[:200])}: {exc.message}") from None
        except OSError as exc:
            shown = sources.printable(raw[:200])
            raise Rejected(f"annotation-loc {shown}: {path_reason(exc)}") from None
        labels = parse_voc(data, label_type)
        for label in labels:
            label.annotated_by = annotated_by
        return labels

    def _text_file(self, candidate: Candidate, ref: FileRef, text: str, sink: list[Draft | Failure]) -> None:
        fmt = self._spec.text_format
        classification = self._target.dataset_type == 100
        result: str | None = None
        if classification and self._read_labels and fmt.label_type == "0":
            data = self._read_sibling(ref, result_name(ref.name))
            result = decode_text(data) if data is not None else None
        split = classification and fmt.label_type == "1"
        columns = self._spec.csv_columns
        lines: Iterator[TextLine | tuple[int, str]]
        if columns is not None and ref.name.lower().endswith(".csv"):
            lines = csv_lines(text, columns, fmt, label_type=100, with_labels=classification)
        else:
            lines = text_lines(text, fmt, label_type=100, split=split, result=result)
        for line in lines:
            rel = f"{candidate.rel}:{line[0] if isinstance(line, tuple) else line.number}"
            if isinstance(line, tuple):
                sink.append(Failure(rel, line[1]))
                continue
            labels = line.labels if self._read_labels else []
            self._text_sample(candidate, line.text, labels, line.number, ref, sink)

    def _text_sample(
        self,
        candidate: Candidate,
        text: str,
        labels: list[LabelInput],
        number: int,
        ref: FileRef | None,
        sink: list[Draft | Failure],
    ) -> None:
        if not text:
            sink.append(Failure(candidate.rel, "empty text"))
            return
        data = text.encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()
        metadata: dict[str, Any] = {"@modelarts:import_origin": self._origin}
        if ref is not None:
            stem, dot, suffix = ref.name.rpartition(".")
            name = f"{stem}_{number}.{suffix}" if dot else f"{ref.name}_{number}"
            metadata["@labelarts:source_file"] = (
                ref.source_key if ref.source_kind == sources.LOCAL else (f"obs://{ref.source_key}")
            )
            metadata["@labelarts:source_line"] = number
            sample_dir, mtime = ref.sample_dir, ref.mtime_ms or now_ms()
        else:
            record_name = candidate.record.sample_name if candidate.record is not None else None
            name, sample_dir, mtime = record_name or f"{digest[:16]}.txt", "", now_ms()
        hard, coefficient = False, None
        if candidate.record is not None:
            metadata = {**candidate.record.metadata, **metadata}
            hard = hard or candidate.record.hard
            coefficient = candidate.record.hard_coefficient
        sink.append(
            Draft(
                rel=f"{candidate.rel}:{number}" if number else candidate.rel,
                source_kind=sources.OBJECT,
                source_key=TEXT_PREFIX.format(dataset_id=self._target.dataset_id) + f"{digest}.txt",
                sample_name=name,
                sample_dir=sample_dir,
                size=len(data),
                mtime_ms=mtime,
                content_hash=digest,
                metadata=metadata,
                labels=labels,
                hard=hard,
                hard_coefficient=coefficient,
                text=text,
            )
        )

    def _add(self, draft: Draft) -> None:
        if len(draft.source_key) > MAX_KEY or max(len(draft.sample_dir), len(draft.sample_name)) > MAX_NAME:
            self._tally.fail(draft.rel, "path is too long")
            return
        self._tally.found += 1
        if not self._keep(draft):
            self._tally.skip("filtered")
            return
        if not self._spec.import_annotations:
            draft.labels = []
        self._pending.append(draft)
        if len(self._pending) >= BATCH:  # per batch of rows, even inside one text file
            self._flush()
            self._report()

    def _keep(self, draft: Draft) -> bool:
        spec = self._spec
        names = {label.name for label in draft.labels}
        if spec.included_labels and not names & spec.included_labels:
            return False
        if spec.excluded_labels and names & spec.excluded_labels:
            return False
        return not spec.difficult_only or draft.hard or is_hard(draft.labels)

    # --- database ---------------------------------------------------------------------------

    def _existing_keys(self, keys: list[str]) -> set[str]:
        found: set[str] = set()
        with self._db.session() as session:
            for chunk in chunked(keys):
                found.update(
                    session.execute(
                        select(Sample.source_key).where(
                            Sample.dataset_id == self._target.dataset_id, Sample.source_key.in_(chunk)
                        )
                    ).scalars()
                )
        return found

    def _flush(self) -> None:
        drafts, self._pending = self._pending, []
        if not drafts:
            return
        self._write_texts(drafts)
        for attempt in (1, 2):
            try:
                added = self._insert(drafts)
                break
            except IntegrityError as exc:
                # Another writer added one of these sources meanwhile; look again once.
                if attempt == 2 or not is_unique_violation(exc, _SAMPLE_CONSTRAINT, "samples"):
                    raise
        self._refresh_statistics(len(added))
        inserted = {id(d) for d in added}
        for draft in drafts:
            if id(draft) in inserted:
                self._tally.added += 1
                if draft.labels:
                    self._tally.annotated += 1
                    if not self._spec.final_annotation:
                        self._tally.unconfirmed += 1
            else:
                self._tally.skip("duplicate")

    def _refresh_statistics(self, added: int) -> None:
        """PostgreSQL plans the per-dataset lookups from table statistics; a fresh dataset that
        grows by thousands of rows a second outruns autovacuum (or runs where it is off), and
        the stale plans scan the whole dataset for every batch. ANALYZE the sample tables each
        time this import has doubled its rows (1k, 2k, 4k...): a few runs, tens of ms each.
        """
        self._added_since_start += added
        if self._added_since_start < self._analyze_at:
            return
        self._analyze_at = self._added_since_start * 2
        refresh_statistics(self._db.engine, ("samples", "sample_labels"))

    def _write_texts(self, drafts: list[Draft]) -> None:
        """Text samples' objects, before the batch's transaction (which then stays short). Their
        keys are content hashes, so a duplicate or a failed batch rewrites the same bytes."""
        for draft in drafts:
            if draft.text is not None:
                self._objects.put(draft.source_key, draft.text.encode("utf-8"))

    def _insert(self, drafts: list[Draft]) -> list[Draft]:
        """Insert the drafts that are new to the dataset (one write transaction); return them."""
        dataset_id = self._target.dataset_id
        with self._db.session(write=True) as session:
            dataset = session.get(Dataset, dataset_id)
            if dataset is None:
                raise StopRequested  # the dataset was deleted while importing
            seen_keys: set[str] = set()
            for chunk in chunked(sorted({d.source_key for d in drafts})):
                seen_keys.update(
                    session.execute(
                        select(Sample.source_key).where(
                            Sample.dataset_id == dataset_id, Sample.source_key.in_(chunk)
                        )
                    ).scalars()
                )
            seen_hashes: set[str | None] = set()
            for chunk in chunked(sorted({d.content_hash for d in drafts})):
                seen_hashes.update(
                    session.execute(
                        select(Sample.content_hash).where(
                            Sample.dataset_id == dataset_id, Sample.content_hash.in_(chunk)
                        )
                    ).scalars()
                )
            fresh: list[Draft] = []
            for draft in drafts:
                if draft.source_key in seen_keys or draft.content_hash in seen_hashes:
                    continue
                seen_keys.add(draft.source_key)
                seen_hashes.add(draft.content_hash)
                fresh.append(draft)
            if not fresh:
                return []
            self._ensure_labels(session, dataset, fresh)
            status = MANUAL if self._spec.final_annotation else AUTO
            samples: list[dict[str, Any]] = []
            labels: list[dict[str, Any]] = []
            for draft in fresh:
                sample, sample_labels = new_sample_rows(
                    dataset_id,
                    dataset.dataset_type,
                    source_kind=draft.source_kind,
                    source_key=draft.source_key,
                    sample_name=draft.sample_name,
                    sample_dir=draft.sample_dir,
                    sample_size=draft.size,
                    sample_time=draft.mtime_ms,
                    metadata=draft.metadata,
                    content_hash=draft.content_hash,
                    import_origin=self._ctx.task_id,
                    labels=draft.labels,
                    status=status,
                    hard=draft.hard,
                    hard_coefficient=draft.hard_coefficient,
                    text=draft.text,
                )
                samples.append(sample)
                labels.extend(sample_labels)
            insert_sample_rows(session, samples, labels)  # and counts them, one delta per batch
            bump_data_version(session, dataset_id)
            return fresh

    def _ensure_labels(self, session: Session, dataset: Dataset, drafts: list[Draft]) -> None:
        """Every label the drafts carry exists in the dataset's label table afterwards, and
        stays (locked ``FOR SHARE`` on PostgreSQL) until the batch commits: a label deleted
        during the import is created again rather than left dangling on new samples."""
        wanted: dict[str, int] = {}
        for draft in drafts:
            for label in draft.labels:
                wanted.setdefault(label.name, label.type)
        if not wanted:
            return
        share_or_create_labels(session, dataset.id, wanted)


def _size_of(fh: IO[bytes]) -> int:
    try:
        position = fh.tell()
        end = fh.seek(0, io.SEEK_END)
        fh.seek(position)
        return int(end)
    except (OSError, ValueError):
        return 0
