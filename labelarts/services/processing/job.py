"""The ``processor`` task body: one run of a processing version, or a feature analysis.

A run reads its input a page at a time (a dataset's live samples or a published version by
sample id, or another task's latest completed output by result order), passes each sample
through the plan's operators, and writes as it goes: the files an operator changed or added
under ``{output_prefix}/Data/``, one ``processor_results`` row per input and per added sample
(committed every ``batch_size`` samples, with a progress report that also notices a stop), then
``output.manifest`` streamed from those rows. Memory holds one batch, plus what a whole-set
operator (de-duplication, selection, cleaning) keeps itself.

Per-sample operators chain: each sees what the one before produced; once an operator adds a
sample (3), the operators after it transform the added copy, and the input stays as it was.
A whole-set operator sees the stream of what is left. With ``work_path`` of type DATASET a
successful run publishes a new version of that dataset from its results (publish.py's
statistics and manifest writer). A stopped or failed run keeps its results so far and creates
no dataset version.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import posixpath
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, cast

import numpy as np
from sqlalchemy import func, insert, select

from labelarts.clock import new_resource_id, now_ms
from labelarts.errors import LabelArtsError, VersionExistsError
from labelarts.formats.modelarts_manifest import ManifestLabel, ManifestSample, manifest_chunks, source_uri
from labelarts.jobs.runner import LeaseLost, TaskContext
from labelarts.ml.processing import rng_for
from labelarts.ml.processing.base import Box, ProcessingInput, ProcessingOutcome
from labelarts.services.processing import folder
from labelarts.services.processing.plan import Step, build_plan
from labelarts.services.processing.service import ADDED_SEQ, ProcessingService
from labelarts.services.samples.records import MANUAL, UNLABELED
from labelarts.services.versions.publish import CREATING, FreezeSpec, PublishBody
from labelarts.storage.db import Database
from labelarts.storage.db.dialect import chunked
from labelarts.storage.db.models import (
    Dataset,
    DatasetVersion,
    ProcessorResult,
    ProcessorTask,
    ProcessorTaskVersion,
    Sample,
    SampleFeature,
    SampleLabel,
    VersionLabel,
    VersionSample,
)

log = logging.getLogger(__name__)

PAGE: Final = 500
MANIFEST_NAME: Final = "output.manifest"
BOX_SHAPE: Final = "bndbox"
SIZE_KEY: Final = "@modelarts:size"
# On a result's metadata: its file was written by a processing run (not the input sample's).
PROCESSED_KEY: Final = "@labelarts:processed"


@dataclass
class Record:
    """A sample on its way through the operators."""

    index: int
    sample_id: str
    origin_kind: str
    origin_key: str
    name: str
    kind: str
    key: str
    labels: list[dict[str, Any]]
    sha256: str
    size: int
    sample_time: int
    status: str
    metadata: dict[str, Any]
    data: bytes | None = None
    changed: bool = False
    deleted: bool = False
    description: list[list[str]] = field(default_factory=list)
    added: Record | None = None


# --- labels <-> the operators' view -------------------------------------------------------------


def label_names(labels: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(label["name"]) for label in labels if not _box_of(label)))


def _box_of(label: dict[str, Any]) -> Box | None:
    prop = label.get("property") or {}
    if prop.get("@modelarts:shape") != BOX_SHAPE:
        return None
    points: Any = prop.get("@modelarts:feature")
    try:
        (x1, y1), (x2, y2) = points
        return Box(str(label["name"]), float(x1), float(y1), float(x2), float(y2))
    except (TypeError, ValueError):
        return None


def boxes_of(labels: Sequence[dict[str, Any]]) -> tuple[Box, ...]:
    return tuple(b for b in (_box_of(label) for label in labels) if b is not None)


def labels_from(outcome: ProcessingOutcome, task_type: str) -> list[dict[str, Any]]:
    if task_type == "object_detection":
        return [
            {
                "name": box.label,
                "type": 1,
                "score": None,
                "property": {
                    "@modelarts:shape": BOX_SHAPE,
                    "@modelarts:feature": [[box.xmin, box.ymin], [box.xmax, box.ymax]],
                },
                "annotated_by": "human",
            }
            for box in outcome.boxes
        ]
    return [
        {"name": name, "type": 0, "score": None, "property": {}, "annotated_by": "human"}
        for name in outcome.labels
    ]


# --- reading the input ---------------------------------------------------------------------------


def _label_dict(name: str, kind: int, score: float | None, prop: Any, by: str) -> dict[str, Any]:
    return {"name": name, "type": int(kind), "score": score, "property": dict(prop or {}), "annotated_by": by}


def read_input(service: ProcessingService, project_id: str, source: dict[str, Any]) -> Iterator[Record]:
    """The input's samples, a page at a time, in a stable order."""
    db = service.db
    index = 0
    if source["type"] == "OBS":
        scope = service.scope(project_id)
        for found in folder.read_folder(scope, service.objects, source["source"], source["dataset_type"]):
            yield Record(
                index=index,
                sample_id=found.sample_id,
                origin_kind=found.kind,
                origin_key=found.key,
                name=found.name,
                kind=found.kind,
                key=found.key,
                labels=found.labels,
                sha256="",
                size=found.size,
                sample_time=found.time_ms,
                status=MANUAL if found.labels else UNLABELED,
                metadata={},
            )
            index += 1
        return
    if source["type"] == "TASK":
        upstream = source["upstream_version_id"]
        after = -1
        while True:
            with db.session() as session:
                rows = list(
                    session.execute(
                        select(ProcessorResult)
                        .where(
                            ProcessorResult.version_id == upstream,
                            ProcessorResult.result_property != 2,
                            ProcessorResult.seq > after,
                        )
                        .order_by(ProcessorResult.seq)
                        .limit(PAGE)
                    ).scalars()
                )
                page = [
                    Record(
                        index=0,
                        sample_id=r.sample_id,
                        origin_kind=r.out_kind or "object",
                        origin_key=r.out_key or "",
                        name=r.out_name or r.sample_id,
                        kind=r.out_kind or "object",
                        key=r.out_key or "",
                        labels=[dict(x) for x in r.out_labels],
                        sha256=r.out_hash or "",
                        size=r.out_size,
                        sample_time=r.out_time,
                        status=MANUAL if r.out_labels else UNLABELED,
                        metadata=dict(r.out_metadata or {}),
                    )
                    for r in rows
                ]
            if not page:
                return
            for record in page:
                record.index = index
                index += 1
                yield record
            after = rows[-1].seq
        return
    yield from _read_samples(db, _SampleTable.of(source), index)


@dataclass(frozen=True)
class _SampleTable:
    """Where a DATASET input keeps its samples and labels: the live dataset's rows, or a
    published version's frozen copies (the same columns under other owners)."""

    sample: Any
    sample_id: Any
    owner: Any
    label: Any
    label_owner: Any
    label_order: Any

    @classmethod
    def of(cls, source: dict[str, Any]) -> _SampleTable:
        version_id = source.get("version_id")
        if version_id is None:
            dataset_id = source["dataset_id"]
            return cls(
                Sample, Sample.id, Sample.dataset_id == dataset_id,
                SampleLabel, SampleLabel.dataset_id == dataset_id, SampleLabel.id,
            )  # fmt: skip
        return cls(
            VersionSample, VersionSample.sample_id, VersionSample.version_id == version_id,
            VersionLabel, VersionLabel.version_id == version_id, VersionLabel.label_id,
        )  # fmt: skip


def _read_samples(db: Database, table: _SampleTable, index: int) -> Iterator[Record]:
    """A dataset's (or version's) samples by sample id, ``PAGE`` at a time, with their labels."""
    s, lab = table.sample, table.label
    after_id = ""
    while True:
        with db.session() as session:
            samples = session.execute(
                select(
                    table.sample_id, s.sample_name, s.source_kind, s.source_key, s.content_hash,
                    s.sample_size, s.sample_time, s.sample_status, s.metadata_,
                )
                .where(table.owner, table.sample_id > after_id)
                .order_by(table.sample_id)
                .limit(PAGE)
            ).all()  # fmt: skip
            labels: dict[str, list[dict[str, Any]]] = {row[0]: [] for row in samples}
            if samples:
                for sid, *label in session.execute(
                    select(lab.sample_id, lab.name, lab.type, lab.score, lab.property, lab.annotated_by)
                    .where(
                        table.label_owner,
                        lab.sample_id >= samples[0][0],
                        lab.sample_id <= samples[-1][0],
                    )
                    .order_by(table.label_order)
                ):
                    if sid in labels:
                        labels[sid].append(_label_dict(*label))
        if not samples:
            return
        for sid, name, kind, key, sha, size, stime, status, meta in samples:
            yield Record(
                index=index,
                sample_id=sid,
                origin_kind=kind,
                origin_key=key,
                name=name or posixpath.basename(key),
                kind=kind,
                key=key,
                labels=labels[sid] if status != UNLABELED else [],
                sha256=sha or "",
                size=int(size or 0),
                sample_time=int(stime or 0),
                status=status,
                metadata=dict(meta or {}),
            )
            index += 1
        after_id = samples[-1][0]


# --- the run -------------------------------------------------------------------------------------


class ProcessorRun:
    def __init__(self, service: ProcessingService, ctx: TaskContext, embed: Callable[..., Any]) -> None:
        self._service = service
        self._db = service.db
        self._objects = service.objects
        self._ctx = ctx
        self._embed = embed
        self._version_id = str(ctx.config["processor_version_id"])
        self._source: dict[str, Any] = dict(ctx.config["source"])
        self._names: set[str] = set()
        self._counts = {0: 0, 1: 0, 2: 0, 3: 0}
        self._origin = 0
        self._total = 0
        self._done = 0

    def run(self) -> dict[str, Any]:
        with self._db.session() as session:
            version = session.get(ProcessorTaskVersion, self._version_id)
            if version is None:
                raise LeaseLost
            task = session.get(ProcessorTask, version.task_id)
            assert task is not None
            if self._source.get("dataset_id") is not None:
                dataset = session.get(Dataset, self._source["dataset_id"])
                if dataset is None:
                    raise LeaseLost
                self._dataset_type = dataset.dataset_type
            else:  # a folder or prefix, or the output of a task that read one
                self._dataset_type = int(self._source["dataset_type"])
            self._template_id = task.template_id
            self._task_id = task.id
            self._prefix = version.output_prefix
            self._work_path = dict(version.work_path) if version.work_path else None
            operator_params = list(version.template.get("operator_params", []))
            self._total = self._count(session)
        plan = build_plan(self._template_id, operator_params, self._dataset_type, self._service.operators)
        self._plan = plan
        with self._db.session() as session:
            version = session.get(ProcessorTaskVersion, self._version_id)
            if version is not None:
                version.stats = {"total_status": list(plan.total_status)}
        self._ctx.report(0.0, total_sample_count=self._total, finished_sample_count=0)
        stream: Iterable[Record] = read_input(self._service, self._ctx.project_id, self._source)
        for step in plan.steps:
            stream = self._whole_set(step, stream) if step.whole_set else self._per_sample(step, stream)
        batch: list[Record] = []
        for record in stream:
            batch.append(record)
            if len(batch) >= self._service.batch_size:
                self._write(batch)
                batch = []
        self._write(batch)
        # The manifest marks a complete output: a run that stops or fails from here on leaves
        # none (nor a delivered folder, nor a dataset version).
        manifest_key = f"{self._prefix}/{MANIFEST_NAME}"
        try:
            self._objects.put_stream(manifest_key, manifest_chunks(self._manifest_samples()))
            self._ctx.report(
                self._fraction(), total_sample_count=self._total, finished_sample_count=self._done
            )
            if self._work_path is not None and self._work_path.get("folder"):
                self._deliver(str(self._work_path["folder"]))
            stats = self._stats()
            with self._db.session() as session:
                version = session.get(ProcessorTaskVersion, self._version_id)
                if version is None:
                    raise LeaseLost
                version.stats = stats
                version.update_time = now_ms()
            result: dict[str, Any] = {
                **stats,
                "total_sample_count": self._total,
                "finished_sample_count": self._done,
            }
            if self._work_path is not None and self._work_path.get("type") == "DATASET":
                result["dataset_version_id"] = self._publish(stats)
        except BaseException:
            try:
                self._objects.delete(manifest_key)
            except OSError:
                log.warning("processing %s: could not delete %s", self._version_id, manifest_key)
            raise
        return result

    def _count(self, session: Any) -> int:
        source = self._source
        if source["type"] == "OBS":
            return folder.count_images(
                self._service.scope(self._ctx.project_id), self._objects, source["source"]
            )
        if source["type"] == "TASK":
            return int(
                session.execute(
                    select(func.count()).where(
                        ProcessorResult.version_id == source["upstream_version_id"],
                        ProcessorResult.result_property != 2,
                    )
                ).scalar_one()
            )
        if source.get("version_id"):
            return int(
                session.execute(
                    select(func.count()).where(VersionSample.version_id == source["version_id"])
                ).scalar_one()
            )
        return int(
            session.execute(
                select(func.count()).where(Sample.dataset_id == source["dataset_id"])
            ).scalar_one()
        )

    # --- operators ---------------------------------------------------------------------------

    def _data(self, record: Record) -> bytes:
        if record.data is None:
            return self._service.read_file(self._ctx.project_id, record.kind, record.key)
        return record.data

    def _as_input(self, record: Record) -> ProcessingInput:
        data = self._data(record)
        return ProcessingInput(
            sample_id=record.sample_id,
            name=record.name,
            data=data,
            labels=label_names(record.labels),
            boxes=boxes_of(record.labels),
            sha256=record.sha256 or hashlib.sha256(data).hexdigest(),
            labeled=bool(record.labels),
            sample_time=record.sample_time,
        )

    def _apply(self, step: Step, record: Record, outcome: ProcessingOutcome) -> None:
        """Fold one operator's outcome into the record (the input, or the copy it added)."""
        notes = list(outcome.description)
        target = record.added if record.added is not None else record
        prop = outcome.result_property
        if prop == 2:
            if record.added is not None:
                record.added = None
                record.description.append([f"{step.name}: {n}" for n in notes] or [f"{step.name}: deleted"])
            else:
                record.deleted = True
                record.description.append(notes or [f"{step.name}: deleted"])
            return
        if prop in (1, 3):
            changed = replace(
                target,
                name=outcome.name or target.name,
                data=outcome.data if outcome.data is not None else target.data,
                labels=self._labels_after(outcome, target.labels),
                changed=True,
                description=[],
                added=None,
            )
            if outcome.data is not None:
                changed.sha256 = hashlib.sha256(outcome.data).hexdigest()
                changed.size = len(outcome.data)
            if (prop == 3 and record.added is None) or record.added is not None:
                record.added = changed
            else:
                record.name, record.data, record.labels = changed.name, changed.data, changed.labels
                record.sha256, record.size, record.changed = changed.sha256, changed.size, True
        record.description.append(notes)

    def _labels_after(self, outcome: ProcessingOutcome, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A detection outcome's boxes are its sample's boxes (an empty tuple drops them all);
        a classification outcome that names no label keeps the sample's labels."""
        if self._plan.task_type == "object_detection" or outcome.labels:
            return labels_from(outcome, self._plan.task_type)
        return before

    def _per_sample(self, step: Step, stream: Iterable[Record]) -> Iterator[Record]:
        process = cast(Any, step.operator).process
        for record in stream:
            if not record.deleted:
                target = record.added if record.added is not None else record
                rng = rng_for(self._version_id, record.sample_id)
                try:
                    outcome = process(self._as_input(target), step.params, rng)
                except LabelArtsError:
                    raise
                except Exception as exc:  # one file an operator cannot handle does not end the run
                    log.info(
                        "processing %s: %s skipped sample %s: %s",
                        self._version_id,
                        step.name,
                        record.sample_id,
                        exc,
                    )
                    outcome = ProcessingOutcome(record.sample_id, 0, (f"{step.name}: skipped ({exc})",))
                self._apply(step, record, outcome)
            yield record

    def _whole_set(self, step: Step, stream: Iterable[Record]) -> Iterator[Record]:
        """Feed the live records to ``select``; records it says nothing about pass unchanged."""
        select_fn = cast(Any, step.operator).select
        held: dict[str, Record] = {}
        passed: list[Record] = []

        def items() -> Iterator[ProcessingInput]:
            for record in stream:
                if record.deleted:
                    passed.append(record)
                    continue
                held[record.sample_id] = record
                item = self._as_input(record)
                if not record.changed:
                    record.data = None  # read again when needed: memory holds no unchanged file
                yield item

        rng = rng_for(self._version_id, step.name)
        for outcome in select_fn(items(), step.params, self._embed, rng):
            record = held.pop(outcome.sample_id, None)
            if record is None:
                continue
            self._apply(step, record, outcome)
            while passed:
                yield passed.pop(0)
            yield record
        yield from passed
        for record in sorted(held.values(), key=lambda r: r.index):
            record.description.append([])
            yield record

    # --- writing ---------------------------------------------------------------------------

    def _file_key(self, name: str) -> str:
        base = posixpath.basename(name) or "sample"
        stem, ext = posixpath.splitext(base)
        candidate, n = base, 1
        while candidate.lower() in self._names:
            candidate = f"{stem}_{n}{ext}"
            n += 1
        self._names.add(candidate.lower())
        return f"{self._prefix}/Data/{candidate}"

    def _row(self, record: Record, seq: int, prop: int, sample_id: str | None = None) -> dict[str, Any]:
        out_kind, out_key = record.kind, record.key
        metadata = record.metadata
        if prop in (1, 3) and record.data is not None:
            out_key = self._file_key(record.name)
            out_kind = "object"
            self._objects.put(out_key, record.data)
            metadata = {k: v for k, v in metadata.items() if k != SIZE_KEY}
            metadata[PROCESSED_KEY] = True
        labels = record.labels
        return {
            "version_id": self._version_id,
            "seq": seq,
            "sample_id": sample_id or record.sample_id,
            "result_property": prop,
            "description": record.description,
            "origin_kind": record.origin_kind if prop != 3 else None,
            "origin_key": record.origin_key if prop != 3 else None,
            "out_kind": None if prop == 2 else out_kind,
            "out_key": None if prop == 2 else out_key,
            "out_name": None if prop == 2 else posixpath.basename(out_key) if prop in (1, 3) else record.name,
            "out_hash": record.sha256 or None,
            "out_size": record.size,
            "out_time": record.sample_time,
            "out_labels": labels,
            "out_metadata": metadata,
        }

    def _write(self, batch: list[Record]) -> None:
        if not batch:
            self._ctx.report(
                self._fraction(), total_sample_count=self._total, finished_sample_count=self._done
            )
            return
        # The report first: a stop asked for meanwhile leaves this batch unwritten.
        self._ctx.report(
            self._fraction(len(batch)), total_sample_count=self._total, finished_sample_count=self._done
        )
        rows = []
        for record in batch:
            prop = 2 if record.deleted else 1 if record.changed else 0
            rows.append(self._row(record, record.index, prop))
            self._counts[prop] += 1
            self._origin += 1
            if record.added is not None and not record.deleted:
                added = record.added
                added.description = record.description
                row = self._row(added, ADDED_SEQ + record.index, 3, sample_id="")
                row["sample_id"] = hashlib.md5(str(row["out_key"]).encode()).hexdigest()
                rows.append(row)
                self._counts[3] += 1
        with self._db.session() as session:
            session.execute(insert(ProcessorResult), rows)
        self._done += len(batch)

    def _fraction(self, pending: int = 0) -> float:
        share = (self._done + pending) / self._total if self._total else 1.0
        published = self._work_path is not None and self._work_path.get("type") == "DATASET"
        return min(share, 1.0) * (0.9 if published else 0.99)

    def _results(self, *, skip_deleted: bool) -> Iterator[ProcessorResult]:
        after = -1
        while True:
            with self._db.session() as session:
                where = [ProcessorResult.version_id == self._version_id, ProcessorResult.seq > after]
                if skip_deleted:
                    where.append(ProcessorResult.result_property != 2)
                rows = list(
                    session.execute(
                        select(ProcessorResult).where(*where).order_by(ProcessorResult.seq).limit(PAGE)
                    ).scalars()
                )
                session.expunge_all()
            if not rows:
                return
            yield from rows
            after = rows[-1].seq

    def _manifest_samples(self, local_copy: str | None = None) -> Iterator[ManifestSample]:
        """The output manifest's lines; with ``local_copy``, a written file's source is its
        copy in that folder."""
        for row in self._results(skip_deleted=True):
            kind, key = row.out_kind or "object", row.out_key or ""
            if local_copy is not None and row.result_property in (1, 3):
                kind, key = "local", f"{local_copy}/{posixpath.basename(key)}"
            yield ManifestSample(
                source=source_uri(kind=kind, key=key),
                labels=[
                    ManifestLabel(
                        x["name"],
                        int(x["type"]),
                        x.get("score"),
                        x.get("property") or {},
                        x.get("annotated_by", "human"),
                    )
                    for x in row.out_labels
                ],
                id=row.sample_id,
            )

    def _deliver(self, folder: str) -> None:
        """Copy the run's output (its written files and ``output.manifest``, whose sources
        name the copies) into ``{folder}/{task_version_id}/`` under an export root, whole or
        not at all: it is written into ``.{task_version_id}.partial`` there, reached only
        through the folder's descriptor, and renamed at the end; a stop or an error removes it.
        The store keeps the run's own files (results, signed URLs, TASK inputs read them)."""
        found = self._service.export_scope(self._ctx.project_id).local(folder)
        parent_rel, name = posixpath.split(found.rel)
        with found.root.open_dir(parent_rel) as parent_fd, contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent_fd)
        final = f"{found.path}/{self._version_id}"
        staging_name = f".{self._version_id}.partial"
        with found.root.open_dir(found.rel) as folder_fd:
            os.mkdir(staging_name, 0o755, dir_fd=folder_fd)
            staging = f"/proc/self/fd/{folder_fd}/{staging_name}"
            try:
                os.mkdir(f"{staging}/Data")
                copied = 0
                for row in self._results(skip_deleted=True):
                    if row.result_property in (1, 3) and row.out_key:
                        with open(f"{staging}/Data/{posixpath.basename(row.out_key)}", "xb") as fh:
                            fh.write(self._objects.get(row.out_key))
                        copied += 1
                        if copied % self._service.batch_size == 0:
                            self._ctx.report(self._fraction(), finished_sample_count=self._done)
                with open(f"{staging}/{MANIFEST_NAME}", "xb") as fh:
                    for chunk in manifest_chunks(self._manifest_samples(local_copy=f"{final}/Data")):
                        fh.write(chunk)
                self._ctx.report(self._fraction(), finished_sample_count=self._done)
                os.rename(staging_name, self._version_id, src_dir_fd=folder_fd, dst_dir_fd=folder_fd)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise

    def _stats(self) -> dict[str, Any]:
        return {
            "total_status": list(self._plan.total_status),
            "origin_sample_count": self._origin,
            "unmodified_sample_count": self._counts[0],
            "modified_sample_count": self._counts[1],
            "deleted_sample_count": self._counts[2],
            "add_sample_count": self._counts[3],
        }

    # --- the new dataset version ---------------------------------------------------------------

    def _publish(self, stats: dict[str, Any]) -> str:
        """A new version of ``work_path``'s dataset from the results (publish.py writes its
        statistics and manifest); the live dataset is not changed."""
        assert self._work_path is not None
        dataset_id = str(self._work_path["path"])
        wanted = self._work_path.get("version_name") or None
        started = time.perf_counter()
        with self._db.session(write=True) as session:
            dataset = session.get(Dataset, dataset_id)
            if dataset is None:
                raise LabelArtsError("The work_path dataset no longer exists.")
            taken = set(
                session.execute(
                    select(DatasetVersion.name).where(DatasetVersion.dataset_id == dataset_id)
                ).scalars()
            )
            if wanted is not None:
                if wanted in taken:
                    raise VersionExistsError(f"Dataset version {wanted} already exists.")
                name = wanted
            else:
                number = max(dataset.next_version_num, 1)
                while f"V{number:03d}" in taken:
                    number += 1
                dataset.next_version_num = number + 1
                name = f"V{number:03d}"
            input_version = self._source.get("version_id")
            previous = input_version if input_version and self._source["dataset_id"] == dataset_id else None
            now = now_ms()
            version = DatasetVersion(
                id=new_resource_id(),
                dataset_id=dataset_id,
                project_id=self._ctx.project_id,
                name=name,
                status=CREATING,
                version_format="Default",
                description=f"Processing task {self._task_id}, version {self._version_id}",
                train_evaluate_sample_ratio="1.00",
                train_ratio=1.0,
                seed=0,
                clear_hard_property=True,
                export_images=False,
                remove_sample_usage=True,
                with_column_header=True,
                sample_state=None,
                dataset_type=dataset.dataset_type,
                previous_version_id=previous,
                task_id=self._ctx.task_id,
                stats={},
                create_time=now,
                update_time=now,
            )
            session.add(version)
            session.flush()
            new_id = version.id
        try:
            self._freeze_results(new_id)
            timings = {"freeze_seconds": round(time.perf_counter() - started, 3)}
            spec = FreezeSpec(new_id, dataset_id, None, 1.0, 0, False, True)
            extra = {
                "add_sample_count": stats["add_sample_count"],
                "modified_sample_count": stats["modified_sample_count"],
                "deleted_sample_count": stats["deleted_sample_count"],
                "processor_task_id": self._task_id,
                "processor_task_version_id": self._version_id,
                "processor_task_status": 2,
            }
            PublishBody(self._db, self._objects, self._ctx, version_id=new_id).complete(
                name, "Default", True, self._dataset_type, spec, started, timings, extra
            )
        except BaseException:
            with self._db.session() as session:
                doomed = session.get(DatasetVersion, new_id)
                if doomed is not None:
                    session.delete(doomed)
            raise
        with self._db.session() as session:
            version_row = session.get(ProcessorTaskVersion, self._version_id)
            if version_row is not None:
                version_row.output_version_id = new_id
        return new_id

    def _freeze_results(self, dataset_version_id: str) -> None:
        label_id = 0
        samples: list[dict[str, Any]] = []
        labels: list[dict[str, Any]] = []

        def flush() -> None:
            if samples:
                with self._db.session() as session:
                    session.execute(insert(VersionSample), samples)
                    if labels:
                        session.execute(insert(VersionLabel), labels)
            samples.clear()
            labels.clear()

        for position, row in enumerate(self._results(skip_deleted=True), start=1):
            metadata = dict(row.out_metadata or {})
            # A file a run wrote is another sample than the input's (whose id serves the input's file).
            processed = bool(metadata.pop(PROCESSED_KEY, False))
            sample_id = hashlib.md5(str(row.out_key).encode()).hexdigest() if processed else row.sample_id
            samples.append(
                {
                    "version_id": dataset_version_id,
                    "sample_id": sample_id,
                    "position": position,
                    "sample_type": 0,
                    "sample_status": MANUAL if row.out_labels else UNLABELED,
                    "sample_name": row.out_name or "",
                    "sample_dir": "",
                    "source_kind": row.out_kind or "object",
                    "source_key": row.out_key or "",
                    "content_hash": row.out_hash,
                    "sample_size": row.out_size,
                    "sample_time": row.out_time,
                    "metadata_": metadata,
                    "hard": False,
                    "hard_coefficient": None,
                    "top_score": None,
                    "import_origin": None,
                    "labeler": None,
                    "text": None,
                    "stratum": None,
                    "usage": None,
                }
            )
            for x in row.out_labels:
                label_id += 1
                labels.append(
                    {
                        "version_id": dataset_version_id,
                        "label_id": label_id,
                        "sample_id": sample_id,
                        "name": x["name"],
                        "type": int(x["type"]),
                        "score": x.get("score"),
                        "property": x.get("property") or {},
                        "annotated_by": x.get("annotated_by", "human"),
                    }
                )
            if len(samples) >= PAGE:
                flush()
        flush()


def run_processor(service: ProcessingService, ctx: TaskContext) -> dict[str, Any]:
    """The ``processor`` task body."""
    if "analysis_task_id" in ctx.config:
        from labelarts.services.processing.analysis import run_analysis

        return run_analysis(service, ctx)
    return ProcessorRun(service, ctx, make_embed(service, ctx)).run()


def make_embed(
    service: ProcessingService, ctx: TaskContext
) -> Callable[[Sequence[ProcessingInput]], np.ndarray]:
    """``embed`` for whole-set operators: EfficientNet-Lite features, L2-normalised rows, read
    from the auto-labeling feature cache for samples whose file is unchanged, computed for the
    others. Nothing is written to the cache: auto labeling stores image statistics beside each
    vector, which a row written here would lack."""
    state: dict[str, Any] = {}

    def embed(items: Sequence[ProcessingInput]) -> np.ndarray:
        from labelarts.ml.features.registry import open_encoder

        if "encoder" not in state:
            state["encoder"] = open_encoder("image", model_dir=service.models_dir, threads=service.ml_threads)
        encoder = state["encoder"]
        out = np.zeros((len(items), encoder.dim), dtype=np.float32)
        ids = [i.sample_id for i in items]
        known: dict[str, bytes] = {}
        hashes: dict[str, str | None] = {}
        with service.db.session() as session:
            for chunk in chunked(ids):
                for sample_id, vector in session.execute(
                    select(SampleFeature.sample_id, SampleFeature.vector).where(
                        SampleFeature.encoder == encoder.name, SampleFeature.sample_id.in_(chunk)
                    )
                ):
                    if vector is not None and len(vector) == 2 * encoder.dim:
                        known[sample_id] = vector
                for sample_id, content_hash in session.execute(
                    select(Sample.id, Sample.content_hash).where(Sample.id.in_(chunk))
                ):
                    hashes[sample_id] = content_hash
        missing = []
        for i, item in enumerate(items):
            vector = known.get(item.sample_id)
            if vector is not None and hashes.get(item.sample_id) == item.sha256:
                out[i] = np.frombuffer(vector, dtype="<f2")
            else:
                missing.append(i)
        if missing:
            fresh = encoder.encode([items[i].data for i in missing])
            for j, i in enumerate(missing):
                out[i] = fresh[j]  # a NaN row marks a file the encoder could not decode
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    return embed
