"""The body of an auto-labeling task, in three phases: read, compute, write.

1. **Read** (:meth:`AutoLabelJob.read`): which samples are labeled (the training set: manually
   labeled samples with one label) and which are to be labeled (unlabeled, and earlier
   unconfirmed auto labels), with the ``revision`` each target had at that moment.
2. **Compute** (:meth:`AutoLabelJob.compute`): features of every sample not yet in the cache
   are encoded in batches (progress per batch, which is also where a stop is noticed); then all
   features are read from the cache into one preallocated float32 matrix (memory-mapped past
   ``LABELARTS_AUTOLABEL_MEMMAP_BYTES``) and :func:`labelarts.ml.pipeline.auto_label` trains the
   calibrated head, predicts and finds the hard examples, in batches.
3. **Write** (:meth:`AutoLabelJob.write`): short transactions of at most ``write_rows`` samples.
   Each one claims its samples with ``UPDATE ... WHERE revision = <the revision read>``, so a
   sample a person changed after the read (any label write bumps its revision) is skipped and
   counted, never overwritten. The first transaction checks for a stop with the task row locked;
   after it a stop is too late (the write goes on and the task succeeds), so a STOPPED task has
   written nothing. Every transaction is complete on its own: a process that dies between two
   leaves some samples auto-labeled and the rest as they were, each one consistent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select

from labelarts.errors import BadRequestError, LabelArtsError
from labelarts.jobs.runner import StopRequested, TaskContext
from labelarts.ml.label_errors import (  # NumPy only
    LABEL_ERROR,
    LabelErrors,
    find_label_errors,
    label_error_detail,
)
from labelarts.services.autolabel.features import FeatureCache, FeatureMatrix, chunks
from labelarts.services.autolabel.writer import (
    AutoLabel,
    ChunkCallback,
    SampleResult,
    WriteOutcome,
    too_late_to_stop_progress,
    write_in_chunks,
    write_results,
)
from labelarts.services.samples.records import (
    AUTO,
    BY_AUTO,
    MANUAL,
    UNLABELED,
    bump_data_version,
    labels_of,
    lock_samples,
)
from labelarts.services.samples.sources import SampleFile, SampleSourceService
from labelarts.storage.db import Database, counters, retry_when_busy
from labelarts.storage.db.models import Dataset, Label, Sample
from labelarts.storage.located import FileLocation

if TYPE_CHECKING:  # the ML modules load scikit-learn: only when a task runs
    from labelarts.ml.hard import HardExamples

log = logging.getLogger(__name__)

MIN_PER_LABEL = 5
KEY_SAMPLE_COUNT = 50  # samples proposed for labeling next when collect_key_sample is set
# Dataset type -> the modality of its feature encoder.
MODALITY = {0: "image", 100: "text", 200: "audio"}
ANNOTATED_BY = BY_AUTO
_BATCH = 64
# Feature-cache rows per write, and the least time between two progress reports: each is a
# write transaction, and on SQLite a stop request must get the write lock between them.
_SAVE_ROWS = 64
_REPORT_EVERY_S = 0.5
_READ_CHUNK = 500
# Samples per result transaction: a few hundred keep each one to tens of milliseconds, which is
# what another writer waits at most (SQLite's lock, PostgreSQL's dataset row).
WRITE_ROWS = 250
# Progress milestones (fractions of the whole task).
_FEATURES_END, _LEARN_END = 0.80, 0.97


@dataclass(frozen=True)
class JobSpec:
    project_id: str
    dataset_id: str
    mode: str
    target_precision: float
    feature_model: str | None
    confidence_scope: tuple[float, float] | None
    augment_budget: int
    # Also perturb up to augment_budget labeled samples, so p_wrong gets its third signal.
    augment_signal: bool = False
    check_labeled: bool = False  # also look for probably wrong human labels (hard reason 31)
    # collect_key_sample: how many samples to propose for labeling next (0: none), and whether
    # the task only proposes (too few labels to learn from yet).
    key_sample_count: int = 0
    propose_only: bool = False


@dataclass
class Snapshot:
    """What the read phase saw: the training set and the targets with their revisions."""

    dataset_type: int
    classes: list[str]
    label_types: dict[str, int]
    labeled_ids: list[str]
    y: NDArray[np.int64]
    target_ids: list[str]
    target_revisions: NDArray[np.int64]
    total: int
    # Revision of each labeled sample as read (the label check writes only unchanged ones), and
    # the labeled samples that were hard examples then (those may carry reason 31 to be cleared).
    labeled_revisions: NDArray[np.int64] | None = None
    hard_labeled: frozenset[str] = frozenset()


@dataclass
class LabelCheck:
    """Confident learning's verdict on each labeled sample it could read, in one order."""

    sample_ids: list[str]
    revisions: NDArray[np.int64]
    given: NDArray[np.int64]  # class index of the label checked
    issue: NDArray[np.bool_]  # the label is probably wrong: hard reason 31
    p_wrong: NDArray[np.float64]  # out-of-fold calibrated probability that the label is wrong
    suggested: NDArray[np.int64]  # class index of the most probable other label
    p_suggested: NDArray[np.float64]
    n_estimated: float


@dataclass
class Labeling:
    """The compute phase's answer for each target it could read, in one order."""

    sample_ids: list[str]
    revisions: NDArray[np.int64]  # as read: the write skips a sample whose revision moved on
    predicted: NDArray[np.int64]  # class index into Snapshot.classes
    confidence: NDArray[np.float64]
    hard: HardExamples
    label_check: LabelCheck | None = None


class FeatureBatches(Protocol):
    """Feature extraction somewhere else (a Ray cluster's actors,
    :class:`labelarts.jobs.ray_executor.RayFeatureBatches`) instead of in this process,
    reading the files there: the model is never loaded here."""

    def encoder(self, modality: str, model: str | None) -> Any:
        """What this process uses of the encoder: ``name``, ``dim`` and ``encode_images``."""
        ...

    def stream(
        self, modality: str, model: str | None, locations: Iterable[FileLocation | None]
    ) -> Iterator[tuple[np.ndarray, list[np.ndarray | None] | None]]:
        """Features of the files at ``locations`` (None: not granted, read as gone) batch by
        batch, in input order, and for images each decoded image's statistics (None where it
        could not be decoded), exactly as the encoder ``model`` (None: the modality's
        default) computes them here."""
        ...


class AutoLabelJob:
    def __init__(
        self,
        db: Database,
        sources: SampleSourceService,
        cache: FeatureCache,
        *,
        models_dir: Path,
        threads: int | None,
        spec: JobSpec,
        memmap_bytes: int,
        scratch_dir: Path,
        write_rows: int = WRITE_ROWS,
        feature_batches: FeatureBatches | None = None,
    ) -> None:
        self._db = db
        self._feature_batches = feature_batches
        self._sources = sources
        self._cache = cache
        self._models_dir = models_dir
        self._threads = threads
        self._memmap_bytes = memmap_bytes
        self._scratch_dir = scratch_dir
        self._write_rows = write_rows
        self.spec = spec

    def check_model(self) -> None:
        from labelarts.ml.features.registry import AVAILABLE_MODELS

        modality = self._modality()
        name = self.spec.feature_model
        if name is not None and name not in AVAILABLE_MODELS.get(modality, ()):
            choices = ", ".join(AVAILABLE_MODELS.get(modality, ()))
            raise BadRequestError(
                f"feature_model {name} is not available for {modality} datasets; choose one of {choices}.",
                error_code="ModelArts.4396",
            )

    def _modality(self) -> str:
        with self._db.session() as session:
            dataset = session.get(Dataset, self.spec.dataset_id)
            assert dataset is not None
            return MODALITY[dataset.dataset_type]

    # -- the task ---------------------------------------------------------------------------------

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        if self.spec.propose_only:
            return self.propose(ctx)
        snap = self.read()
        counts = {
            "total_sample_count": snap.total,
            "annotated_sample_count": len(snap.labeled_ids),
            "unconfirmed_sample_count": 0,
        }
        ctx.report(0.01, **counts, message="Extracting features.")
        labeling, summary = self.compute(ctx, snap)
        ctx.report(_LEARN_END, message="Writing the results.")
        outcome = self.write(ctx, snap, labeling, on_chunk=too_late_to_stop_progress(ctx, _LEARN_END, 1.0))
        n_hard = int(np.sum(labeling.hard.hard))
        message = f"Labeled {outcome.written} samples; {n_hard} marked as hard examples."
        result = {
            **counts,
            **summary,
            "unconfirmed_sample_count": outcome.written,
            "changed_during_task_count": outcome.skipped,
        }
        if labeling.label_check is not None:
            checked = self.write_label_check(
                ctx, snap, labeling.label_check, check_stop=not labeling.sample_ids
            )
            result["changed_during_task_count"] += checked.skipped
            found = int(np.sum(labeling.label_check.issue))
            message += (
                f" Checked {len(labeling.label_check.sample_ids)} labeled samples: {found} labels look "
                f"wrong (hard reason {LABEL_ERROR})."
            )
        return {**result, "message": message}

    def propose(self, ctx: TaskContext) -> dict[str, Any]:
        """Too few labels to learn from: propose the samples to label first (typicality,
        :func:`labelarts.ml.selection.propose`); nothing is written to the samples."""
        from labelarts.ml.selection import propose

        with self._db.session() as session:
            dataset = session.get(Dataset, self.spec.dataset_id)
            if dataset is None:
                raise LabelArtsError("The dataset was deleted.", error_code="ModelArts.4352")
            dataset_type = dataset.dataset_type
            rows = session.execute(
                select(Sample.id, Sample.sample_status, Sample.revision)
                .where(Sample.dataset_id == dataset.id)
                .order_by(Sample.id)
            ).all()
        labeled = [r.id for r in rows if r.sample_status == MANUAL]
        targets = [r for r in rows if r.sample_status in (UNLABELED, AUTO)]
        snap = Snapshot(
            dataset_type=dataset_type,
            classes=[],
            label_types={},
            labeled_ids=labeled,
            y=np.zeros(len(labeled), dtype=np.int64),
            target_ids=[r.id for r in targets],
            target_revisions=np.array([r.revision for r in targets], dtype=np.int64),
            total=len(rows),
        )
        counts = {
            "total_sample_count": snap.total,
            "annotated_sample_count": len(labeled),
            "unconfirmed_sample_count": 0,
        }
        ctx.report(0.01, **counts, message="Extracting features.")
        modality = MODALITY[dataset_type]
        encoder = self._open_encoder(modality)
        matrix = self._features(ctx, encoder, snap, modality)
        ctx.report(_FEATURES_END, message="Choosing the samples to label first.")
        target_ids = [snap.target_ids[i] for i in np.flatnonzero(matrix.targets_ok)]
        if not target_ids:
            raise LabelArtsError("No sample to be labeled could be read.", error_code="ModelArts.4392")
        picked = propose(
            matrix.targets,
            self.spec.key_sample_count,
            X_labeled=matrix.labeled if matrix.n_labeled else None,
            seed=0,
        )
        key_samples = [target_ids[int(i)] for i in picked]
        return {
            **counts,
            "key_samples": key_samples,
            "key_sample_rule": "typicality",
            "feature_model": encoder.name,
            "failed_sample_count": len(snap.target_ids) - len(target_ids),
            "message": f"Proposed {len(key_samples)} samples to label first (result.key_samples).",
        }

    # -- read -------------------------------------------------------------------------------------

    def read(self) -> Snapshot:
        with self._db.session() as session:
            dataset = session.get(Dataset, self.spec.dataset_id)
            if dataset is None:
                raise LabelArtsError("The dataset was deleted.", error_code="ModelArts.4352")
            label_types = {
                label.name: label.type
                for label in session.execute(select(Label).where(Label.dataset_id == dataset.id)).scalars()
            }
            rows = session.execute(
                select(Sample.id, Sample.sample_status, Sample.revision, Sample.hard)
                .where(Sample.dataset_id == dataset.id)
                .order_by(Sample.id)
                .execution_options(yield_per=10_000)
            )
            manual: list[str] = []
            manual_revisions: dict[str, int] = {}
            manual_hard: set[str] = set()
            target_ids: list[str] = []
            revisions: list[int] = []
            total = 0
            for sample_id, status, revision, hard in rows:
                total += 1
                if status == MANUAL:
                    manual.append(sample_id)
                    manual_revisions[sample_id] = revision
                    if hard:
                        manual_hard.add(sample_id)
                elif status in (UNLABELED, AUTO):
                    target_ids.append(sample_id)
                    revisions.append(revision)
            names: dict[str, str] = {}
            for chunk in chunks(manual, _READ_CHUNK):
                for sample_id, labels in labels_of(session, chunk).items():
                    distinct_names = {label.name for label in labels}
                    if len(distinct_names) == 1:  # single-label classification trains on these
                        names[sample_id] = distinct_names.pop()
            dataset_type = dataset.dataset_type

        per_class: dict[str, int] = {}
        for name in names.values():
            per_class[name] = per_class.get(name, 0) + 1
        classes = sorted(n for n, c in per_class.items() if c >= MIN_PER_LABEL)
        if len(classes) < 2:
            raise LabelArtsError(
                "Fewer than two labels have five labeled samples any more.", error_code="ModelArts.4406"
            )
        index = {name: i for i, name in enumerate(classes)}
        labeled = [sample_id for sample_id in manual if names.get(sample_id) in index]
        return Snapshot(
            dataset_type=dataset_type,
            classes=classes,
            label_types={name: label_types.get(name, 0) for name in classes},
            labeled_ids=labeled,
            y=np.array([index[names[s]] for s in labeled], dtype=np.int64),
            target_ids=target_ids,
            target_revisions=np.array(revisions, dtype=np.int64),
            total=total,
            labeled_revisions=np.array([manual_revisions[s] for s in labeled], dtype=np.int64),
            hard_labeled=frozenset(s for s in labeled if s in manual_hard),
        )

    def _files(self, sample_ids: Sequence[str]) -> list[SampleFile]:
        """Where each sample's file is, in the order of ``sample_ids`` (deleted ones left out)."""
        found: dict[str, SampleFile] = {}
        with self._db.session() as session:
            for chunk in chunks(sample_ids, _READ_CHUNK):
                for r in session.execute(
                    select(
                        Sample.id,
                        Sample.sample_name,
                        Sample.source_kind,
                        Sample.source_key,
                        Sample.content_hash,
                    ).where(Sample.id.in_(chunk))
                ):
                    found[r.id] = SampleFile(
                        r.id,
                        self.spec.dataset_id,
                        r.sample_name,
                        r.source_kind,
                        r.source_key,
                        r.content_hash,
                        self.spec.project_id,
                    )
        return [found[s] for s in sample_ids if s in found]

    # -- compute ----------------------------------------------------------------------------------

    def compute(self, ctx: TaskContext, snap: Snapshot) -> tuple[Labeling, dict[str, Any]]:
        """Features, learning, predictions and hard examples; returns the labeling and the
        figures for the task result."""
        from labelarts.ml.hard import HardExamples
        from labelarts.ml.pipeline import auto_label, check_human_labels

        modality = MODALITY[snap.dataset_type]
        encoder = self._open_encoder(modality)
        matrix = self._features(ctx, encoder, snap, modality)
        targets = np.flatnonzero(matrix.targets_ok)
        target_ids = [snap.target_ids[i] for i in targets]
        n_labeled = matrix.n_labeled
        ctx.report(_FEATURES_END, message="Training the model and labeling.")
        if not len(target_ids) and not self.spec.check_labeled:
            raise LabelArtsError("No sample to be labeled could be read.", error_code="ModelArts.4392")

        def progress(fraction: float) -> None:
            ctx.report(_FEATURES_END + (_LEARN_END - _FEATURES_END) * max(0.0, min(1.0, fraction)))

        labeled_rows = np.flatnonzero(matrix.labeled_ok)
        y_ok = snap.y[matrix.labeled_ok]
        if not len(target_ids):  # only the labels to check: no auto labels, no hard examples
            errors = check_human_labels(
                matrix.labeled, y_ok, n_classes=len(snap.classes), mode="fast", progress=progress
            )
            del matrix
            empty = np.zeros(0)
            labeling = Labeling(
                sample_ids=[],
                revisions=np.zeros(0, dtype=np.int64),
                predicted=np.zeros(0, dtype=np.int64),
                confidence=empty,
                hard=HardExamples(hard=np.zeros(0, dtype=bool), coefficient=empty, reasons=[]),
                label_check=self._label_check(snap, labeled_rows, errors),
            )
            return labeling, {
                "hard_sample_count": 0,
                "auto_accepted_sample_count": 0,
                "failed_sample_count": len(snap.labeled_ids) - len(labeled_rows) + len(snap.target_ids),
                "classes": snap.classes,
                "feature_model": encoder.name,
                "algorithm_type": self.spec.mode,
                **_check_summary(errors),
            }

        augmented: Callable[[np.ndarray], Mapping[int, np.ndarray]] | None = None
        augmented_labeled: Callable[[np.ndarray], Mapping[int, np.ndarray]] | None = None
        if modality == "image" and self.spec.augment_budget > 0:
            from labelarts.ml.augment import AUGMENTATIONS
            from labelarts.ml.error_rank import AUGMENT_CODES

            augmented = self._augmenter(encoder, target_ids, tuple(AUGMENTATIONS))
            if self.spec.augment_signal:
                labeled_ids = [snap.labeled_ids[int(i)] for i in labeled_rows]
                augmented_labeled = self._augmenter(encoder, labeled_ids, AUGMENT_CODES)
        stats = matrix.stats
        if stats is not None and not np.all(np.isfinite(stats)):
            stats = None  # stats missing for some readable image: skip rules 5-10 rather than guess
        outcome = auto_label(
            matrix.labeled,
            y_ok,
            matrix.targets,
            n_classes=len(snap.classes),
            mode=self.spec.mode,
            target_precision=self.spec.target_precision,
            stats_labeled=stats[:n_labeled] if stats is not None else None,
            stats_unlabeled=stats[n_labeled:] if stats is not None else None,
            augmented_features=augmented,
            augmented_labeled=augmented_labeled,
            augment_budget=self.spec.augment_budget,
            seed=0,
            progress=progress,
        )
        key_samples: list[str] = []
        if self.spec.key_sample_count > 0:
            from labelarts.ml.selection import uncertain_diverse_samples

            picked = uncertain_diverse_samples(
                matrix.targets, outcome.proba, self.spec.key_sample_count, seed=0
            )
            key_samples = [target_ids[int(i)] for i in picked]
        del matrix  # the features (maybe a memory map) are not needed any more
        hard = outcome.hard
        if self.spec.confidence_scope is not None:
            _apply_confidence_scope(hard, outcome.confidence, self.spec.confidence_scope)
        labeling = Labeling(
            sample_ids=target_ids,
            revisions=snap.target_revisions[targets],
            predicted=outcome.predicted,
            confidence=outcome.confidence,
            hard=hard,
        )
        check: LabelErrors | None = None
        if self.spec.check_labeled:
            check = find_label_errors(outcome.oof_proba, y_ok, n_classes=len(snap.classes))
            labeling.label_check = self._label_check(snap, labeled_rows, check)
        n_unreadable_labeled = len(snap.labeled_ids) - n_labeled
        summary = {
            "hard_sample_count": int(np.sum(hard.hard)),
            "auto_accepted_sample_count": int(np.sum(outcome.accepted)),
            "failed_sample_count": len(snap.target_ids) - len(target_ids) + n_unreadable_labeled,
            "classes": snap.classes,
            "thresholds": {
                name: round(float(t), 4) for name, t in zip(snap.classes, outcome.thresholds, strict=True)
            },
            "feature_model": encoder.name,
            "algorithm_type": self.spec.mode,
            "estimates": {k: round(float(v), 4) for k, v in outcome.estimates.items()},
        }
        if check is not None:
            summary.update(_check_summary(check))
        if self.spec.key_sample_count > 0:
            summary["key_samples"] = key_samples
            summary["key_sample_rule"] = "uncertainty-diversity"
        return labeling, summary

    @staticmethod
    def _label_check(snap: Snapshot, rows: NDArray[np.intp], errors: LabelErrors) -> LabelCheck:
        assert snap.labeled_revisions is not None and rows.size == errors.issue.size
        return LabelCheck(
            sample_ids=[snap.labeled_ids[i] for i in rows],
            revisions=snap.labeled_revisions[rows],
            given=snap.y[rows],
            issue=errors.issue,
            p_wrong=errors.p_wrong,
            suggested=errors.suggested,
            p_suggested=errors.p_suggested,
            n_estimated=errors.n_estimated,
        )

    def _open_encoder(self, modality: str) -> Any:
        """The encoder: loaded here, or with features extracted elsewhere, the stand-in that
        leaves the weights there (a Ray job loads them once per encoder actor, not also in
        its driver)."""
        if self._feature_batches is not None:
            return self._feature_batches.encoder(modality, self.spec.feature_model)
        from labelarts.ml.features.registry import open_encoder

        return open_encoder(
            modality, self.spec.feature_model, model_dir=self._models_dir, threads=self._threads
        )

    def _read(self, sample: SampleFile) -> bytes:
        try:
            return self._sources.read_bytes(sample)
        except LabelArtsError:
            return b""  # gone: the encoder gives a NaN row and the sample is skipped

    def _features(self, ctx: TaskContext, encoder: Any, snap: Snapshot, modality: str) -> FeatureMatrix:
        """Encode what the cache lacks, then read every feature from the cache into one matrix."""
        cached = self._cache.cached_ids(encoder.name, self.spec.dataset_id)
        wanted = len(snap.labeled_ids) + len(snap.target_ids)
        missing_ids = [s for s in (*snap.labeled_ids, *snap.target_ids) if s not in cached]
        del cached
        ctx.report(0.02, cached_feature_count=wanted - len(missing_ids), encoded_feature_count=0)
        if missing_ids:
            self._encode(ctx, encoder, self._files(missing_ids), modality)
        return self._cache.read_matrix(
            encoder.name,
            self.spec.dataset_id,
            snap.labeled_ids,
            snap.target_ids,
            encoder.dim,
            with_stats=modality == "image",
            memmap_bytes=self._memmap_bytes,
            scratch_dir=self._scratch_dir,
        )

    def _encode(self, ctx: TaskContext, encoder: Any, missing: Sequence[SampleFile], modality: str) -> None:
        """Encode ``missing`` into the cache (vectors and, for images, statistics)."""
        from labelarts.ml.image_stats import image_stats

        done = 0
        unsaved: list[tuple[str, np.ndarray, np.ndarray | None]] = []
        saved = [0]  # rows in the cache so far (what a restarted task will not encode again)

        def save() -> None:
            if unsaved:
                self._cache.store(encoder.name, self.spec.dataset_id, unsaved)
                saved[0] += len(unsaved)
                unsaved.clear()

        def finish(
            batch: Sequence[SampleFile],
            vectors: np.ndarray,
            decoded: list[Any] | None,
            stats: list[np.ndarray | None] | None,
        ) -> int:
            """Image statistics of one batch (unless computed with its features) and, every
            _SAVE_ROWS rows, the cache write (off the encoder's thread; few, larger write
            transactions keep SQLite's lock free for others)."""
            stats_rows: list[np.ndarray | None] = list(stats) if stats is not None else [None] * len(batch)
            for j, item in enumerate(decoded or []):
                if item is not None:
                    stats_rows[j] = image_stats(item[0], item[1])
            unsaved.extend((s.sample_id, vectors[j], stats_rows[j]) for j, s in enumerate(batch))
            if len(unsaved) >= _SAVE_ROWS:
                save()
            return len(batch)

        # Three stages overlap: the encoder's threads read and decode the next files, the
        # network works on this batch, and another thread computes statistics and writes the
        # previous batch to the cache.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="autolabel-write") as writer:
            written: list[Future[int]] = []
            position = 0
            last_report = time.monotonic()
            for vectors, decoded, stats in self._encode_stream(encoder, missing, modality):
                batch = missing[position : position + len(vectors)]
                position += len(vectors)
                # At most one batch waits for the writer, so memory stays bounded.
                while len(written) > 1 or (written and written[0].done()):
                    done += written.pop(0).result()
                written.append(writer.submit(finish, batch, vectors, decoded, stats))
                if time.monotonic() - last_report >= _REPORT_EVERY_S:
                    ctx.report(
                        0.02 + (_FEATURES_END - 0.02) * done / len(missing),
                        encoded_feature_count=saved[0],
                    )
                    last_report = time.monotonic()
            for future in written:
                done += future.result()
            writer.submit(save).result()
        ctx.report(_FEATURES_END, encoded_feature_count=done)

    def _encode_stream(
        self, encoder: Any, samples: Sequence[SampleFile], modality: str
    ) -> Iterator[tuple[np.ndarray, list[Any] | None, list[np.ndarray | None] | None]]:
        """(features, decoded images or None, image statistics or None) batch by batch, in
        the order of ``samples``."""
        if self._feature_batches is not None:
            located = (self._sources.locate(s) for s in samples)
            for vectors, stats in self._feature_batches.stream(modality, self.spec.feature_model, located):
                yield vectors, None, stats
            return
        if modality == "image":
            # The encoder pulls files from this generator a run at a time, reading the next
            # runs' files while its runners decode and encode the ones before.
            for vectors, decoded in encoder.encode_with_images_iter(self._read(s) for s in samples):
                yield vectors, decoded, None
            return

        def read_all(batch: Sequence[SampleFile]) -> list[bytes]:
            return [self._read(s) for s in batch]

        # Read the next batch's files while the encoder works on this one.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="autolabel-read") as reader:
            batches = list(chunks(samples, _BATCH))
            pending: Future[list[bytes]] | None = reader.submit(read_all, batches[0]) if batches else None
            for i in range(len(batches)):
                assert pending is not None
                payloads = pending.result()
                pending = reader.submit(read_all, batches[i + 1]) if i + 1 < len(batches) else None
                yield encoder.encode(payloads), None, None

    def _augmenter(
        self, encoder: Any, target_ids: Sequence[str], codes: tuple[int, ...]
    ) -> Callable[[np.ndarray], Mapping[int, np.ndarray]]:
        """Features of the perturbed copies (reason ``codes``) of the samples ``target_ids[i]``."""
        from labelarts.ml.augment import AUGMENTATIONS
        from labelarts.ml.features.image import decode_image

        def augmented(indices: np.ndarray) -> Mapping[int, np.ndarray]:
            out: dict[int, list[np.ndarray]] = {code: [] for code in codes}
            for chunk in chunks(list(indices), 32):
                files = {f.sample_id: f for f in self._files([target_ids[int(i)] for i in chunk])}
                images: list[Any] = []
                for i in chunk:
                    file = files.get(target_ids[int(i)])
                    try:
                        images.append(decode_image(self._read(file), size=256)[0] if file else None)
                    except ValueError:
                        images.append(None)
                for code in codes:
                    perturb = AUGMENTATIONS[code]
                    good = [perturb(im) for im in images if im is not None]
                    feats = encoder.encode_images(good) if good else np.zeros((0, encoder.dim), np.float32)
                    rows = np.full((len(images), encoder.dim), np.nan, dtype=np.float32)
                    rows[[k for k, im in enumerate(images) if im is not None]] = feats
                    out[code].append(rows)
            return {
                code: np.concatenate(parts) if parts else np.zeros((0, encoder.dim), np.float32)
                for code, parts in out.items()
            }

        return augmented

    # -- write ------------------------------------------------------------------------------------

    def write(
        self, ctx: TaskContext, snap: Snapshot, labeling: Labeling, *, on_chunk: ChunkCallback | None = None
    ) -> WriteOutcome:
        """Write ``labeling`` in transactions of at most ``write_rows`` samples
        (:func:`~labelarts.services.autolabel.writer.write_in_chunks`).

        A sample is written only if its revision is still the one read and it is still
        unlabeled or auto-labeled; the others are skipped and counted. The first transaction
        checks for a stop under the task's row lock (a stop that came first wins: StopRequested,
        nothing written); after it the write runs to the end. ``on_chunk(written so far, total)``
        is called after each committed transaction, outside any transaction.
        """
        return write_in_chunks(
            self._db,
            ctx,
            len(labeling.sample_ids),
            self._write_rows,
            lambda session, rows: self._write_chunk(session, snap, labeling, rows),
            on_chunk=on_chunk,
        )

    def write_label_check(
        self, ctx: TaskContext, snap: Snapshot, check: LabelCheck, *, check_stop: bool
    ) -> WriteOutcome:
        """Mark the labeled samples whose label is probably wrong (hard reason 31) and clear the
        reason from those that carried it and are no longer suspect; nothing else changes (their
        labels and status stay as the person left them). A sample is written only if it is still
        manually labeled with the revision read; the others are skipped and counted.
        ``check_stop``: the first transaction checks for a stop (when no auto label was written
        before it, as :meth:`write` does)."""
        positions = [
            i
            for i, sample_id in enumerate(check.sample_ids)
            if check.issue[i] or sample_id in snap.hard_labeled
        ]
        written = skipped = 0
        for start in range(0, max(1, len(positions)), self._write_rows):
            rows = positions[start : start + self._write_rows]

            def transaction(rows: list[int] = rows, first: bool = start == 0) -> tuple[int, int]:
                with self._db.session(write=True) as session:
                    if first and check_stop and ctx.stop_requested(session):
                        raise StopRequested
                    return self._write_check_chunk(session, snap, check, rows) if rows else (0, 0)

            done, missed = retry_when_busy(transaction)  # as write_in_chunks
            written += done
            skipped += missed
        return WriteOutcome(written=written, skipped=skipped)

    def _write_check_chunk(
        self, session: Any, snap: Snapshot, check: LabelCheck, rows: Sequence[int]
    ) -> tuple[int, int]:
        """(samples rewritten, samples skipped because a person changed them after the read)."""
        by_id = {check.sample_ids[i]: i for i in rows}
        # Samples by id (FOR UPDATE on PostgreSQL; SQLite holds its write lock), then the dataset
        # row: the lock order of every writer.
        locked = lock_samples(session, self.spec.dataset_id, list(by_id))
        current = {
            sample_id: sample
            for sample_id, sample in locked.items()
            if sample.sample_status == MANUAL and sample.revision == int(check.revisions[by_id[sample_id]])
        }
        skipped = len(by_id) - len(current)
        changes: dict[str, tuple[bool, float, dict[str, Any]]] = {}
        for sample_id, sample in current.items():
            i = by_id[sample_id]
            metadata = dict(sample.metadata_ or {})
            reasons = [int(r) for r in metadata.get("@modelarts:hard_reasons") or [] if int(r) != LABEL_ERROR]
            details = {
                k: v
                for k, v in dict(metadata.get("@labelarts:hard_details") or {}).items()
                if k != str(LABEL_ERROR)
            }
            flagged = bool(check.issue[i])
            had = LABEL_ERROR in [int(r) for r in metadata.get("@modelarts:hard_reasons") or []]
            if not flagged and not had:
                continue  # hard for other reasons, never flagged by the label check: left alone
            if flagged:
                reasons.append(LABEL_ERROR)
                details[str(LABEL_ERROR)] = label_error_detail(
                    snap.classes[int(check.given[i])],
                    snap.classes[int(check.suggested[i])],
                    1.0 - float(check.p_wrong[i]),
                    float(check.p_suggested[i]),
                )
            metadata["@modelarts:hard_reasons"] = sorted(reasons)
            if details:
                metadata["@labelarts:hard_details"] = details
            else:
                metadata.pop("@labelarts:hard_details", None)
            changes[sample_id] = (bool(reasons), round(float(check.p_wrong[i]), 6), metadata)
        if not changes:
            return 0, skipped
        ids = sorted(changes)
        counters.uncount_samples(session, self.spec.dataset_id, ids)
        for sample_id in ids:
            hard, coefficient, metadata = changes[sample_id]
            sample = current[sample_id]
            sample.hard = hard
            sample.hard_coefficient = coefficient
            sample.metadata_ = metadata
            sample.revision = (sample.revision or 0) + 1
        session.flush()
        counters.count_samples(session, self.spec.dataset_id, ids)
        bump_data_version(session, self.spec.dataset_id)
        return len(ids), skipped

    def _write_chunk(self, session: Any, snap: Snapshot, labeling: Labeling, rows: range) -> int:
        """One transaction's samples of ``labeling`` (positions ``rows``), one label each."""
        hard = labeling.hard
        results = [
            SampleResult(
                sample_id=labeling.sample_ids[i],
                revision=int(labeling.revisions[i]),
                labels=[AutoLabel(snap.classes[int(labeling.predicted[i])], float(labeling.confidence[i]))],
                hard=bool(hard.hard[i]),
                coefficient=float(hard.coefficient[i]),
                reasons=list(hard.reasons[i]),
                details=hard.details(i),
                top_score=float(labeling.confidence[i]),
            )
            for i in rows
        ]
        return len(write_results(session, self.spec.dataset_id, results, label_types=snap.label_types))


def _check_summary(errors: Any) -> dict[str, Any]:
    """Task-result figures of the label check (docs/autolabel.md, "Wrong human labels")."""
    return {
        "checked_labeled_sample_count": int(errors.issue.size),
        "label_error_sample_count": int(np.sum(errors.issue)),
        "label_error_estimate": round(float(errors.n_estimated), 1),
    }


def _apply_confidence_scope(hard: Any, confidence: np.ndarray, scope: tuple[float, float]) -> None:
    """``confidence_scope`` set: reason 1 (low confidence) means "confidence inside the range"."""
    low, high = scope
    for i, value in enumerate(confidence):
        reasons = [r for r in hard.reasons[i] if r != 1]
        if low <= float(value) <= high:
            reasons.append(1)
        hard.reasons[i] = sorted(reasons)
        hard.hard[i] = bool(reasons)
        if not reasons:
            hard.coefficient[i] = 0.0
