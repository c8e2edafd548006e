"""The other intelligent tasks: ``pre-label`` (a user's own model labels the unlabeled images)
and ``auto-grouping`` (k-means over pretrained features). Both run as task kind
``auto-label`` (one intelligent task per dataset at a time, like the guide's "ensure that no
auto labeling job is in progress"); ``config.task_type`` chooses the body.

Both follow the auto-labeling task's three phases (docs/architecture.md, job.py): read the
targets with their revisions; compute with progress reports (where a stop is noticed);
write in short transactions, the first of which checks for a stop under the task's row
lock, each claiming its samples by revision so a sample a person changed meanwhile is
skipped and counted, never overwritten. A worker that dies leaves the task to lease recovery
(FAILED, or STOPPED if a stop was asked for) and every written chunk whole; grouping's
features stay in the cache, so running it again does not encode them again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labelarts.errors import BadRequestError, LabelArtsError, NoUnlabeledError
from labelarts.jobs.runner import LeaseLost, StopRequested, TaskContext
from labelarts.schemas.tasks import CreateTaskRequest, SmartTaskConfig, parse_confidence_scope
from labelarts.services.autolabel.features import FeatureCache, chunks
from labelarts.services.autolabel.writer import (
    AutoLabel,
    SampleResult,
    too_late_to_stop_progress,
    write_in_chunks,
    write_metadata,
    write_results,
)
from labelarts.services.labels import share_or_create_labels
from labelarts.services.samples.records import AUTO, UNLABELED
from labelarts.services.samples.sources import SampleFile, SampleSourceService
from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset, Sample
from labelarts.storage.objects import ObjectStore

if TYPE_CHECKING:
    from labelarts.ml.onnx_models import Detection, OnnxModel
    from labelarts.services.models import ModelService

PRE_LABEL = "pre-label"
AUTO_GROUPING = "auto-grouping"
# The guide: pre-labeling needs "a model type that matches the dataset labeling type";
# auto grouping supports image classification, object detection and image segmentation.
PRE_LABEL_DATASET_KIND = {0: "classifier", 1: "detector"}
GROUPING_DATASET_TYPES = frozenset({0, 1, 3})
# Pre-labeling's hard-example rule 1 without confidence_scope: top score below this.
LOW_CONFIDENCE = 0.5
WRITE_ROWS = 250
_READ_CHUNK = 500
_REPORT_EVERY_S = 0.5
_COMPUTE_END = 0.95
# Threads that read, decode and preprocess images for pre-labeling while the model runs.
_DECODE_THREADS = 2


# -- request checks (a 400 before anything is queued) ---------------------------------------------


def check_request(
    project_id: str,
    dataset_type: int,
    request: CreateTaskRequest,
    models: ModelService,
    count_targets: int,
) -> dict[str, Any]:
    """The config to store for a pre-label or auto-grouping task, or a 4xx."""
    config = request.config
    if request.task_type == PRE_LABEL:
        model_id = request.model_id or config.model_id
        if not model_id:
            raise BadRequestError(
                "A pre-label task needs model_id (a model of the registry).", error_code="ModelArts.4396"
            )
        wanted = PRE_LABEL_DATASET_KIND.get(dataset_type)
        if wanted is None:
            raise BadRequestError(
                "Pre-labeling supports image classification (0) with a classifier and object detection (1) "
                f"with a detector, not dataset_type {dataset_type}.",
                error_code="ModelArts.4396",
            )
        kind = models.kind_of(project_id, model_id)  # 404 for another project's model
        if kind != wanted:
            raise BadRequestError(
                f"The model is a {kind}; a dataset of type {dataset_type} needs a {wanted}.",
                error_code="ModelArts.4396",
            )
        if count_targets == 0:
            raise NoUnlabeledError("Pre-labeling needs at least one unlabeled sample.")
        return {"model_id": model_id}
    if dataset_type not in GROUPING_DATASET_TYPES:
        raise BadRequestError(
            "Auto grouping supports image classification (0), object detection (1) and image "
            f"segmentation (3) datasets, not dataset_type {dataset_type}.",
            error_code="ModelArts.4396",
        )
    if config.n_clusters is None:
        raise BadRequestError(
            "An auto-grouping task needs config.n_clusters (2 to 200).", error_code="ModelArts.4396"
        )
    if config.result_type == 1 and not config.property:
        raise BadRequestError(
            "result_type 1 writes each sample's group to the attribute named by config.property; set it.",
            error_code="ModelArts.4396",
        )
    if count_targets < config.n_clusters:
        raise NoUnlabeledError(
            f"{config.n_clusters} groups need at least as many unlabeled images; "
            f"the dataset has {count_targets}."
        )
    return {}


def count_targets(db: Database, dataset_id: str) -> int:
    with db.session() as session:
        return int(
            session.execute(
                select(func.count())
                .select_from(Sample)
                .where(Sample.dataset_id == dataset_id, Sample.sample_status.in_([UNLABELED, AUTO]))
            ).scalar_one()
        )


# -- shared phases --------------------------------------------------------------------------------


@dataclass
class Targets:
    ids: list[str]
    revisions: NDArray[np.int64]
    total: int
    dataset_type: int


def read_targets(db: Database, dataset_id: str) -> Targets:
    """The samples nobody labeled (unlabeled, and unconfirmed auto labels) and their revisions."""
    with db.session() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise LabelArtsError("The dataset was deleted.", error_code="ModelArts.4352")
        ids: list[str] = []
        revisions: list[int] = []
        total = 0
        rows = session.execute(
            select(Sample.id, Sample.sample_status, Sample.revision)
            .where(Sample.dataset_id == dataset_id)
            .order_by(Sample.id)
            .execution_options(yield_per=10_000)
        )
        for sample_id, status, revision in rows:
            total += 1
            if status in (UNLABELED, AUTO):
                ids.append(sample_id)
                revisions.append(revision)
        return Targets(ids, np.array(revisions, dtype=np.int64), total, dataset.dataset_type)


def sample_files(
    db: Database, project_id: str, dataset_id: str, sample_ids: Sequence[str]
) -> list[SampleFile]:
    found: dict[str, SampleFile] = {}
    with db.session() as session:
        for chunk in chunks(sample_ids, _READ_CHUNK):
            for r in session.execute(
                select(
                    Sample.id, Sample.sample_name, Sample.source_kind, Sample.source_key, Sample.content_hash
                ).where(Sample.id.in_(chunk))
            ):
                found[r.id] = SampleFile(
                    r.id, dataset_id, r.sample_name, r.source_kind, r.source_key, r.content_hash, project_id
                )
    return [found[s] for s in sample_ids if s in found]


# -- pre-label ------------------------------------------------------------------------------------


@dataclass
class Prediction:
    labels: list[tuple[str, float, dict[str, Any]]]  # name, score, property
    top_score: float
    reasons: list[int]
    size: tuple[int, int] | None = None


_REASON_TEXT = {
    0: (
        "No target objects are identified",
        "Label the image by hand, or check that the model fits the data.",
    ),
    1: ("The confidence is low", "Check the label; the model is unsure of it."),
}


class PreLabelJob:
    def __init__(
        self,
        db: Database,
        sources: SampleSourceService,
        models: ModelService,
        *,
        project_id: str,
        dataset_id: str,
        model_id: str,
        config: SmartTaskConfig,
        threads: int | None,
        write_rows: int = WRITE_ROWS,
    ) -> None:
        self._db = db
        self._sources = sources
        self._models = models
        self._project_id = project_id
        self._dataset_id = dataset_id
        self._model_id = model_id
        self._threads = threads
        self._write_rows = write_rows
        self._scope = parse_confidence_scope(config.confidence_scope) if config.confidence_scope else None
        self._score_threshold = config.score_threshold

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        from labelarts.ml.onnx_models import InvalidModel, OnnxModel

        targets = read_targets(self._db, self._dataset_id)
        counts = {
            "total_sample_count": targets.total,
            "annotated_sample_count": targets.total - len(targets.ids),
            "unconfirmed_sample_count": 0,
        }
        ctx.report(0.01, **counts, message="Loading the model.")
        loaded = self._models.load(self._project_id, self._model_id)
        try:
            model = OnnxModel.load(loaded.data, loaded.spec, threads=self._threads)
        except InvalidModel as error:
            raise LabelArtsError(f"The model cannot run: {error}.", error_code="ModelArts.3037") from None
        ctx.report(0.02, message="Running the model.")
        started = time.perf_counter()
        predictions = self._predict(ctx, model, targets)
        seconds = time.perf_counter() - started
        ctx.report(_COMPUTE_END, message="Writing the results.")
        written, n_hard = self._write(ctx, model, targets, predictions)
        return {
            **counts,
            "unconfirmed_sample_count": written,
            "changed_during_task_count": sum(1 for p in predictions if p is not None) - written,
            "failed_sample_count": sum(1 for p in predictions if p is None),
            "hard_sample_count": n_hard,
            "model_id": loaded.model_id,
            "model_name": loaded.name,
            "model_version": loaded.version,
            "inference_seconds": round(seconds, 3),
            "message": f"Pre-labeled {written} samples with {loaded.name} {loaded.version}; "
            f"{n_hard} hard examples.",
        }

    def _predict(self, ctx: TaskContext, model: OnnxModel, targets: Targets) -> list[Prediction | None]:
        """Run the model over every target, a batch at a time. Reading, decoding and
        preprocessing the next batch (on ``_DECODE_THREADS`` threads: Pillow and numpy release
        the GIL) overlaps with the model running on this one."""
        from labelarts.ml.features.image import decode_image

        Prepared = tuple[NDArray[np.float32], tuple[int, int]] | None

        def prepare(file: SampleFile | None) -> Prepared:
            if file is None:
                return None
            try:
                image, _original = decode_image(self._sources.read_bytes(file))
            except (LabelArtsError, ValueError):
                return None
            return model.preprocess(image), image.size

        def batches() -> Iterator[list[SampleFile | None]]:
            for start in range(0, len(targets.ids), _READ_CHUNK):
                ids = targets.ids[start : start + _READ_CHUNK]
                files = {
                    f.sample_id: f for f in sample_files(self._db, self._project_id, self._dataset_id, ids)
                }
                for b in range(0, len(ids), model.batch_size):
                    yield [files.get(sample_id) for sample_id in ids[b : b + model.batch_size]]

        out: list[Prediction | None] = []
        # The first batch is reported at once (a user sees the model working within one batch),
        # later ones every _REPORT_EVERY_S.
        last = time.monotonic() - _REPORT_EVERY_S
        with ThreadPoolExecutor(max_workers=_DECODE_THREADS, thread_name_prefix="prelabel-decode") as pool:
            pending: list[Future[Prepared]] | None = None
            for files in [*batches(), None]:
                ahead = [pool.submit(prepare, f) for f in files] if files is not None else None
                if pending is not None:
                    out.extend(self._run_batch(model, [future.result() for future in pending]))
                pending = ahead
                if out and time.monotonic() - last >= _REPORT_EVERY_S:
                    ctx.report(
                        0.02 + (_COMPUTE_END - 0.02) * len(out) / len(targets.ids),
                        predicted_sample_count=len(out),
                    )
                    last = time.monotonic()
        ctx.report(_COMPUTE_END, predicted_sample_count=len(out))
        return out

    def _run_batch(
        self, model: OnnxModel, prepared: list[tuple[NDArray[np.float32], tuple[int, int]] | None]
    ) -> list[Prediction | None]:
        results: list[Prediction | None] = [None] * len(prepared)
        positions = [j for j, item in enumerate(prepared) if item is not None]
        if not positions:
            return results
        items = [prepared[j] for j in positions]
        batch = np.stack([item[0] for item in items if item is not None])
        sizes = [item[1] for item in items if item is not None]
        if model.spec.kind == "classifier":
            for j, probs in zip(positions, model.classify(batch), strict=True):
                results[j] = self._classified(model, probs)
        else:
            for j, size, boxes in zip(positions, sizes, model.detect(batch, sizes), strict=True):
                results[j] = self._detected(model, boxes, size)
        return results

    def _low(self, score: float) -> bool:
        if self._scope is not None:
            return self._scope[0] <= score <= self._scope[1]
        return score < LOW_CONFIDENCE

    def _classified(self, model: OnnxModel, probs: NDArray[np.float64]) -> Prediction:
        best = int(np.argmax(probs))
        score = float(probs[best])
        reasons = [1] if self._low(score) else []
        name = model.spec.labels[best]
        return Prediction([(name, score, {})], score, reasons)

    def _detected(self, model: OnnxModel, boxes: list[Detection], size: tuple[int, int]) -> Prediction:
        kept = [d for d in boxes if d.score >= self._score_threshold]
        labels = [
            (
                model.spec.labels[d.label],
                d.score,
                {
                    "@modelarts:shape": "bndbox",
                    "@modelarts:feature": [
                        [round(d.box[0], 1), round(d.box[1], 1)],
                        [round(d.box[2], 1), round(d.box[3], 1)],
                    ],
                },
            )
            for d in kept
        ]
        top = max((d.score for d in kept), default=0.0)
        low = any(self._low(d.score) for d in kept)
        reasons = [1] if low else [] if kept else [0]
        return Prediction(labels, top, reasons, size)

    def _write(
        self, ctx: TaskContext, model: OnnxModel, targets: Targets, predictions: list[Prediction | None]
    ) -> tuple[int, int]:
        """The predictions in chunks (:mod:`~labelarts.services.autolabel.writer`); the first
        transaction adds the model's labels the dataset does not have yet. Returns (samples
        written, hard examples among them)."""
        label_type = 0 if model.spec.kind == "classifier" else 1
        rows = [i for i, p in enumerate(predictions) if p is not None]
        names = sorted({name for i in rows for name, _s, _p in cast(Prediction, predictions[i]).labels})
        hard_by_chunk: dict[int, int] = {}  # by the chunk's first row: a retried chunk counts once

        def add_labels(session: Session) -> None:
            dataset = session.get(Dataset, self._dataset_id)
            if dataset is None:
                raise LeaseLost
            # As every writer that puts labels on samples: no 4411 when a labeller creates or
            # deletes one of these names meanwhile.
            share_or_create_labels(session, dataset.id, dict.fromkeys(names, label_type))

        def write_chunk(session: Session, chunk: range) -> int:
            results = [self._result(targets, rows[k], cast(Prediction, predictions[rows[k]])) for k in chunk]
            written = set(write_results(session, self._dataset_id, results, default_type=label_type))
            hard_by_chunk[chunk.start] = sum(1 for r in results if r.hard and r.sample_id in written)
            return len(written)

        outcome = write_in_chunks(
            self._db,
            ctx,
            len(rows),
            self._write_rows,
            write_chunk,
            first=add_labels,
            on_chunk=too_late_to_stop_progress(ctx, _COMPUTE_END, 1.0),
        )
        return outcome.written, sum(hard_by_chunk.values())

    @staticmethod
    def _result(targets: Targets, i: int, p: Prediction) -> SampleResult:
        is_hard = bool(p.reasons)
        return SampleResult(
            sample_id=targets.ids[i],
            revision=int(targets.revisions[i]),
            labels=[AutoLabel(name, score, prop) for name, score, prop in p.labels],
            hard=is_hard,
            coefficient=1.0 - p.top_score if is_hard else 0.0,
            reasons=list(p.reasons),
            details={
                str(code): {
                    "id": code,
                    "reason": _REASON_TEXT[code][0],
                    "suggestion": _REASON_TEXT[code][1],
                    "alo_name": "pre-label",
                }
                for code in p.reasons
            },
            top_score=p.top_score if p.labels else None,
            status=AUTO if p.labels else UNLABELED,
            metadata={"@modelarts:size": [p.size[0], p.size[1], 3]} if p.size is not None else {},
        )


# -- auto grouping --------------------------------------------------------------------------------


def grouping_prefix(dataset_id: str, task_id: str) -> str:
    """Where result_type 0 writes a task's groups in the object store (the dataset's work path)."""
    return f"datasets/{dataset_id}/annotation/auto-grouping/{task_id}/"


class GroupingJob:
    def __init__(
        self,
        db: Database,
        objects: ObjectStore,
        cache: FeatureCache,
        features_job: Any,
        *,
        project_id: str,
        dataset_id: str,
        config: SmartTaskConfig,
        write_rows: int = WRITE_ROWS,
    ) -> None:
        self._db = db
        self._objects = objects
        self._cache = cache
        self._features_job = features_job  # an AutoLabelJob: its feature phase (cache, encoder)
        self._project_id = project_id
        self._dataset_id = dataset_id
        self._config = config
        self._write_rows = write_rows

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        from labelarts.ml.features.registry import open_encoder
        from labelarts.ml.grouping import group_images
        from labelarts.services.autolabel.job import Snapshot

        config = self._config
        n_clusters = int(config.n_clusters or 0)
        targets = read_targets(self._db, self._dataset_id)
        counts = {
            "total_sample_count": targets.total,
            "annotated_sample_count": targets.total - len(targets.ids),
            "unconfirmed_sample_count": 0,
        }
        ctx.report(0.01, **counts, message="Extracting features.")
        job = self._features_job
        encoder = open_encoder("image", None, model_dir=job._models_dir, threads=job._threads)
        snap = Snapshot(
            dataset_type=targets.dataset_type,
            classes=[],
            label_types={},
            labeled_ids=[],
            y=np.zeros(0, dtype=np.int64),
            target_ids=targets.ids,
            target_revisions=targets.revisions,
            total=targets.total,
        )
        matrix = job._features(ctx, encoder, snap, "image")
        usable = np.flatnonzero(matrix.targets_ok)
        if len(usable) < n_clusters:
            raise LabelArtsError(
                f"{n_clusters} groups need at least as many readable images; {len(usable)} could be read.",
                error_code="ModelArts.4407",
            )
        ctx.report(0.85, message="Grouping.")
        stats = matrix.stats
        groups = group_images(
            np.asarray(matrix.targets),
            n_clusters,
            stats=stats,
            brightness=bool(config.image_brightness),
            colorfulness=bool(config.image_colorfulness),
            ambiguity=bool(config.ambiguity),
        )
        del matrix
        ids = [targets.ids[i] for i in usable]
        revisions = targets.revisions[usable]
        sizes = np.bincount(groups, minlength=n_clusters)
        result: dict[str, Any] = {
            **counts,
            "grouped_sample_count": len(ids),
            "failed_sample_count": len(targets.ids) - len(ids),
            "n_clusters": n_clusters,
            "group_sizes": {str(k): int(v) for k, v in enumerate(sizes)},
            "feature_model": encoder.name,
            "result_type": int(config.result_type or 0),
        }
        ctx.report(0.9, message="Writing the groups.")
        if config.result_type == 1:
            written = self._write_attribute(ctx, ids, revisions, groups, str(config.property))
            result["property"] = config.property
            result["changed_during_task_count"] = len(ids) - written
            result["message"] = (
                f"Grouped {written} images into {n_clusters} groups (attribute {config.property})."
            )
        else:
            prefix = grouping_prefix(self._dataset_id, ctx.task_id)
            self._write_objects(ctx, prefix, ids, groups)
            result["output_path"] = "/" + prefix
            result["message"] = f"Grouped {len(ids)} images into {n_clusters} groups; written to /{prefix}."
        return result

    def _write_objects(
        self, ctx: TaskContext, prefix: str, ids: list[str], groups: NDArray[np.int64]
    ) -> None:
        """``groups.jsonl`` (one line per image: sample_id, sample_name, group) under ``prefix``;
        the stop check comes first, so a stopped task leaves nothing."""
        with self._db.session(write=True) as session:
            if ctx.stop_requested(session):
                raise StopRequested

        def lines() -> Any:
            with self._db.session() as session:
                for start in range(0, len(ids), _READ_CHUNK):
                    chunk = ids[start : start + _READ_CHUNK]
                    names = dict(
                        session.execute(
                            select(Sample.id, Sample.sample_name).where(Sample.id.in_(chunk))
                        ).all()
                    )
                    for offset, sample_id in enumerate(chunk):
                        record = {
                            "sample_id": sample_id,
                            "sample_name": names.get(sample_id, ""),
                            "group": int(groups[start + offset]),
                        }
                        yield (json.dumps(record, ensure_ascii=False) + "\n").encode()

        self._objects.put_stream(f"{prefix}groups.jsonl", lines())

    def _write_attribute(
        self,
        ctx: TaskContext,
        ids: list[str],
        revisions: NDArray[np.int64],
        groups: NDArray[np.int64],
        name: str,
    ) -> int:
        """Each sample's group into ``metadata[name]`` (a string, so ``search_conditions``'
        ``metadata.props`` finds it); labels and status are left as they are."""

        def write_chunk(session: Session, rows: range) -> int:
            expected = [(ids[i], int(revisions[i])) for i in rows]
            values = {ids[i]: {name: str(int(groups[i]))} for i in rows}
            return write_metadata(session, self._dataset_id, expected, values)

        outcome = write_in_chunks(
            self._db,
            ctx,
            len(ids),
            self._write_rows,
            write_chunk,
            on_chunk=too_late_to_stop_progress(ctx, 0.9, 1.0),
        )
        return outcome.written
