"""The ``export`` task body: select samples page by page, write them in the asked format into
a staging folder, then publish the folder in one step.

* Local destination (an export root): the staging folder ``.NAME.partial-TASK`` is made
  beside the destination (same file system), reached only through the parent folder's
  descriptor, and renamed to ``NAME`` at the end: until then nothing named ``NAME`` exists.
* Object-store destination: staged under the data dir, then uploaded, media first and the
  annotation files (what a reader opens first) last; a stop or failure during the upload
  deletes what was uploaded.
* New dataset: created at the start, filled a page at a time; a stop or failure deletes it.

A stop (:class:`~labelarts.jobs.runner.StopRequested`, raised by a progress report) or an
error removes the staging folder before it propagates.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Final

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from labelarts.clock import new_resource_id, new_sample_id, now_ms
from labelarts.errors import SourceUnavailableError, ValidationFailedError
from labelarts.formats import datumaro_export as dm
from labelarts.formats.folders import USAGE, FolderWriter, TableWriter
from labelarts.formats.modelarts_manifest import ManifestLabel, ManifestSample, manifest_chunks, source_uri
from labelarts.jobs.runner import TaskContext
from labelarts.services.exporting.reader import (
    HARD_KEYS,
    LABELS,
    SAMPLES,
    VERSION_LABELS,
    Row,
    Selection,
    count,
    pages,
    subset_of,
)
from labelarts.services.paths import ProjectScope
from labelarts.services.samples.records import SAMPLE_DATA_MAX_CHARS, UNLABELED, bump_data_version
from labelarts.services.samples.sources import LocalFiles
from labelarts.storage.db import Database, counters
from labelarts.storage.db.models import Dataset, Label
from labelarts.storage.objects import ObjectStore

log = logging.getLogger(__name__)

REPORT_EVERY: Final = 500
MANIFEST_NAME: Final = "dataset.manifest"
TEXT_TYPES: Final = frozenset({100, 101, 102})
# Files a reader opens first: uploaded last to an object store.
_INDEX_SUFFIXES: Final = (".json", ".jsonl", ".xml", ".txt", ".csv", ".data", ".names", ".manifest")


class ExportJob:
    def __init__(
        self,
        *,
        db: Database,
        objects: ObjectStore,
        local_files: LocalFiles,
        export_scope: ProjectScope,
        staging_dir: Path,
        ctx: TaskContext,
    ) -> None:
        self._db = db
        self._objects = objects
        self._local = local_files
        self._export_scope = export_scope
        self._staging_dir = staging_dir
        self._ctx = ctx
        self._cfg = ctx.config
        self._done = 0
        self._total = 0
        self._selection = Selection(
            dataset_id=ctx.dataset_id,
            export_type=self._cfg.get("export_type"),
            sample_state=self._cfg.get("sample_state"),
            sample_ids=self._cfg.get("samples"),
            conditions=tuple(self._cfg.get("search_conditions") or ()),
            version_id=self._cfg.get("version_id"),
        )

    # --- the run --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        with self._db.session() as session:
            dataset = session.get(Dataset, self._ctx.dataset_id)
            if dataset is None:
                from labelarts.jobs.runner import LeaseLost

                raise LeaseLost
            self._dataset_type = dataset.dataset_type
            self._dataset_name = dataset.name
            version_id = self._cfg.get("version_id")
            names = (
                select(Label.name).where(Label.dataset_id == dataset.id).order_by(Label.id)
                if version_id is None
                else select(VERSION_LABELS.c.name)
                .where(VERSION_LABELS.c.version_id == version_id)
                .distinct()
                .order_by(VERSION_LABELS.c.name)
            )
            self._label_names = list(session.execute(names).scalars())
        self._total = count(self._db, self._selection)
        self._ctx.report(0.0, total_sample_count=self._total, finished_sample_count=0)
        dest = self._cfg["dest"]
        result: dict[str, Any] = {}
        if dest["kind"] == "dataset":
            result["export_new_dataset_id"] = self._to_new_dataset()
        elif dest["kind"] == "local":
            self._to_local(dest["path"])
        else:
            self._to_objects(dest["key"])
        result.update(total_sample_count=self._total, finished_sample_count=self._done)
        return result

    def _progress(self, n: int = 1) -> None:
        self._done += n
        if self._done % REPORT_EVERY < n or self._done == self._total:
            fraction = self._done / self._total if self._total else 1.0
            self._ctx.report(
                min(fraction, 1.0), total_sample_count=self._total, finished_sample_count=self._done
            )

    # --- destinations ---------------------------------------------------------------------

    def _to_local(self, raw: str) -> None:
        found = self._export_scope.local(raw)
        parent_rel, name = posixpath.split(found.rel)
        staging_name = f".{name}.partial-{self._ctx.task_id}"
        with found.root.open_dir(parent_rel) as parent_fd:
            _check_free(parent_fd, name)
            os.mkdir(staging_name, 0o755, dir_fd=parent_fd)
            staging = f"/proc/self/fd/{parent_fd}/{staging_name}"
            try:
                self._write(staging)
                _check_free(parent_fd, name)
                if _exists(parent_fd, name):
                    os.rmdir(name, dir_fd=parent_fd)  # an empty folder the user made for it
                os.rename(staging_name, name, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise

    def _to_objects(self, prefix: str) -> None:
        staging = self._staging_dir / f"{self._ctx.task_id}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        uploaded: list[str] = []
        try:
            self._write(str(staging))
            files = sorted(
                (str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file()),
                key=lambda rel: (rel.lower().endswith(_INDEX_SUFFIXES), rel),
            )
            for index, rel in enumerate(files):
                key = f"{prefix}/{rel}"
                self._objects.put_stream(key, _chunks(staging / rel))
                uploaded.append(key)
                if index % REPORT_EVERY == 0:
                    self._ctx.report(1.0, total_sample_count=self._total, finished_sample_count=self._done)
        except BaseException:
            for key in uploaded:
                try:
                    self._objects.delete(key)
                except OSError:
                    log.warning("export %s: could not delete %s", self._ctx.task_id, key)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # --- formats --------------------------------------------------------------------------

    def _write(self, out_dir: str) -> None:
        fmt = self._cfg["format"]
        split = bool(self._cfg.get("ratio_sample_usage"))
        if fmt == "coco" and self._dataset_type == 0:
            fmt = "coco_labels"  # classes only: COCO's image-labels file
        if fmt in dm.FORMATS:
            subsets = {"train": self._total, "val": 0} if split else {dm.DEFAULT_SUBSET: self._total}
            stream = dm.SampleStream(
                self._subset_samples, subsets, self._label_names, boxes_only=fmt in dm.BOX_FORMATS
            )
            dm.export(stream, fmt, out_dir)
            return
        if fmt in ("csv", "jsonl"):
            writer = TableWriter(out_dir, fmt, text=self._dataset_type in TEXT_TYPES, split=split)
            try:
                for sample, row in self._samples():
                    writer.write(sample, self._text(row) if self._dataset_type in TEXT_TYPES else None)
                    self._progress()
            finally:
                writer.close()
            return
        if fmt == "manifest":
            os.makedirs(out_dir, exist_ok=True)
            clear_hard = bool(self._cfg.get("clear_hard_property", True))
            with open(os.path.join(out_dir, MANIFEST_NAME), "wb") as fh:
                for chunk in manifest_chunks(self._manifest_samples(split), with_hard=not clear_hard):
                    fh.write(chunk)
            return
        folders = FolderWriter(out_dir, int(self._cfg.get("layout", 2)))
        os.makedirs(out_dir, exist_ok=True)
        for sample, _row in self._samples():
            folders.write(sample)
            self._progress()

    def _manifest_samples(self, split: bool) -> Iterator[ManifestSample]:
        """Manifest lines: the samples' own sources (files are not copied), their labels."""
        text_type = self._dataset_type in TEXT_TYPES
        clear_hard = bool(self._cfg.get("clear_hard_property", True))
        for export, row in self._samples():
            sample = row.sample
            labels = []
            for label in row.labels:
                prop = dict(label.property or {})
                if clear_hard:
                    for key in HARD_KEYS:
                        prop.pop(key, None)
                labels.append(ManifestLabel(label.name, label.type, label.score, prop, label.annotated_by))
            yield ManifestSample(
                source=source_uri(
                    kind=sample.source_kind,
                    key=sample.source_key,
                    text=self._text(row) if text_type else None,
                ),
                labels=labels,
                id=sample.id,
                usage=USAGE.get(export.subset) if split else None,
                hard=bool(sample.hard),
                hard_coefficient=sample.hard_coefficient,
            )
            self._progress()

    def _subset_samples(self, subset: str) -> Iterator[dm.ExportSample]:
        """Datumaro's view: one subset's samples (all of them without a split)."""
        for sample, _row in self._samples(only=None if subset == dm.DEFAULT_SUBSET else subset):
            yield sample
            self._progress()

    def _samples(self, only: str | None = None) -> Iterator[tuple[dm.ExportSample, Row]]:
        """Every selected sample as an :class:`ExportSample` (``only``: of that subset)."""
        split = bool(self._cfg.get("ratio_sample_usage"))
        ratio = float(self._cfg.get("train_sample_ratio", 1.0))
        seed = str(self._cfg.get("seed", self._ctx.task_id))
        used: set[str] = set()
        clear_hard = bool(self._cfg.get("clear_hard_property", True))
        for page in pages(self._db, self._selection):
            for row in page:
                subset = self._subset(row, seed, ratio) if split else dm.DEFAULT_SUBSET
                if only is not None and subset != only:
                    continue
                yield self._export_sample(row, subset, used, clear_hard), row

    def _subset(self, row: Row, seed: str, ratio: float) -> str:
        """train or val: a version's own split, else by hash (:func:`subset_of`)."""
        if self._selection.version_id is not None:
            return "val" if row.sample.usage == "EVAL" else "train"
        return subset_of(row.sample.id, seed, ratio)

    def _export_sample(self, row: Row, subset: str, used: set[str], clear_hard: bool) -> dm.ExportSample:
        sample = row.sample
        item_id, ext = dm.item_name(sample.sample_name or sample.id)
        if item_id.lower() in used:  # two files of one name (other folders or extensions)
            item_id = f"{item_id}_{sample.id[:8]}"
        used.add(item_id.lower())
        metadata = sample.metadata
        size = metadata.get("@modelarts:size") if isinstance(metadata, dict) else None
        hw = (
            (int(size[1]), int(size[0]))
            if isinstance(size, list) and len(size) >= 2 and size[0] and size[1]
            else None
        )
        labels = []
        for label in row.labels:
            prop = dict(label.property or {})
            shape = prop.pop("@modelarts:shape", None)
            points = prop.pop("@modelarts:feature", None) or ()
            if clear_hard:
                for key in HARD_KEYS:
                    prop.pop(key, None)
            labels.append(
                dm.ExportLabel(
                    name=label.name,
                    shape=shape if isinstance(shape, str) else None,
                    points=points if isinstance(points, list) else (),
                    score=label.score,
                    attributes=prop,
                )
            )
        return dm.ExportSample(item_id, ext, hw, self._copier(sample), labels, subset)

    def _copier(self, sample: Any) -> Callable[[IO[bytes]], None]:
        project_id, kind, key = self._ctx.project_id, sample.source_kind, sample.source_key

        def copy_to(out: IO[bytes]) -> None:
            try:
                src = self._local.open(project_id, key) if kind == "local" else self._objects.open(key)
            except (FileNotFoundError, IsADirectoryError):
                raise SourceUnavailableError(f"The file of sample {sample.sample_name!r} is gone.") from None
            with src:
                shutil.copyfileobj(src, out, 1024 * 1024)

        return copy_to

    def _text(self, row: Row) -> str:
        """A text sample's text: its row holds all of it below SAMPLE_DATA_MAX_CHARS."""
        text: str | None = row.sample.text
        if text is not None and len(text) < SAMPLE_DATA_MAX_CHARS:
            return text
        buffer = io.BytesIO()
        try:
            self._copier(row.sample)(buffer)
        except SourceUnavailableError:
            return row.sample.text or ""
        return buffer.getvalue().decode("utf-8", errors="replace")

    # --- new dataset ----------------------------------------------------------------------

    def _to_new_dataset(self) -> str:
        cfg = self._cfg
        now = now_ms()
        new_id = new_resource_id()
        with self._db.session() as session:
            source = session.get(Dataset, self._ctx.dataset_id)
            assert source is not None
            session.add(
                Dataset(
                    id=new_id,
                    project_id=source.project_id,
                    name=cfg["new_dataset_name"],
                    dataset_type=source.dataset_type,
                    description=f"Exported from {source.name}",
                    data_format=source.data_format,
                    data_sources=[],
                    work_path=cfg.get("new_dataset_work_path") or "",
                    work_path_type=source.work_path_type,
                    workspace_id=source.workspace_id,
                    label_format=source.label_format,
                    status=0,
                    next_version_num=1,
                    create_time=now,
                    update_time=now,
                    data_update_time=now,
                )
            )
            session.flush()
            for label in session.execute(
                select(Label).where(Label.dataset_id == source.id).order_by(Label.id)
            ).scalars():
                session.add(
                    Label(
                        dataset_id=new_id,
                        name=label.name,
                        type=label.type,
                        property=dict(label.property),
                        attributes=list(label.attributes),
                    )
                )
        try:
            clear_hard = bool(cfg.get("clear_hard_property", True))
            for page in pages(self._db, self._selection):
                samples: list[dict[str, Any]] = []
                labels: list[dict[str, Any]] = []
                for row in page:
                    _copy_sample(row, new_id, clear_hard, samples, labels)
                with self._db.session() as session:
                    session.execute(insert(SAMPLES), samples)
                    if labels:
                        session.execute(insert(LABELS), labels)
                    _count_copies(session, new_id, samples, labels)
                    bump_data_version(session, new_id)
                self._progress(len(page))
        except BaseException:
            with self._db.session() as session:
                session.execute(delete(Dataset).where(Dataset.id == new_id))
            raise
        return new_id


def _count_copies(
    session: Session, dataset_id: str, samples: list[dict[str, Any]], labels: list[dict[str, Any]]
) -> None:
    """The counters' hook for the copied samples (storage/db/counters.py)."""
    names: dict[str, list[str]] = {}
    for label in labels:
        names.setdefault(label["sample_id"], []).append(label["name"])
    for sample in samples:
        counters.count_facts(
            session,
            dataset_id,
            status=sample["sample_status"],
            hard=bool(sample["hard"]),
            label_names=names.get(sample["id"], []),
        )


def _copy_sample(
    row: Row, dataset_id: str, clear_hard: bool, samples: list[dict[str, Any]], labels: list[dict[str, Any]]
) -> None:
    """The rows that copy one sample (same source file, new id) and its labels into the dataset."""
    values = dict(row.sample._mapping)
    sample_id = new_sample_id()
    values.update(id=sample_id, dataset_id=dataset_id, revision=0, parent_sample_id=None)
    if clear_hard:
        values.update(hard=False, hard_coefficient=None)
    if not row.labels:
        values["sample_status"] = UNLABELED
    samples.append(values)
    for label in row.labels:
        prop = dict(label.property or {})
        if clear_hard:
            for key in HARD_KEYS:
                prop.pop(key, None)
        labels.append(
            {
                "sample_id": sample_id,
                "dataset_id": dataset_id,
                "name": label.name,
                "type": label.type,
                "score": label.score,
                "property": prop,
                "annotated_by": label.annotated_by,
            }
        )


def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _check_free(dir_fd: int, name: str) -> None:
    """The destination must not exist, or be an empty folder (400 otherwise)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    import stat as stat_mod

    if not stat_mod.S_ISDIR(st.st_mode):
        raise ValidationFailedError("The export path exists and is not a folder.")
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
    try:
        with os.scandir(fd) as entries:
            if next(entries, None) is not None:
                raise ValidationFailedError("The export path is a folder that is not empty.")
    finally:
        os.close(fd)
