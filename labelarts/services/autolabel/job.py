"""The body of an auto-labeling task: snapshot, features (cached), learn, write.

1. Snapshot which samples are labeled (the training set: manually labeled samples with one
   label) and which are to be labeled (unlabeled, and earlier unconfirmed auto labels).
2. Features for every sample, in batches, from the cache or the encoder; progress is reported
   per batch, which is also where a stop request is noticed.
3. :func:`labelarts.ml.pipeline.auto_label` trains the calibrated head, predicts and finds the
   hard examples (images: also the perturbation checks, read back here).
4. One transaction writes every result, so a stopped, failed or interrupted task leaves the
   dataset exactly as it was. Samples a person labeled while the task ran are left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, select

from labelarts.errors import BadRequestError, LabelArtsError
from labelarts.jobs.runner import StopRequested, TaskContext
from labelarts.services.autolabel.features import CachedFeature, FeatureCache, chunks
from labelarts.services.samples.records import (
    AUTO,
    BY_AUTO,
    MANUAL,
    UNLABELED,
    LabelInput,
    bump_data_version,
    labels_of,
    set_sample_labels,
)
from labelarts.services.samples.sources import SampleFile, SampleSourceService
from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset, Label, Sample, SampleLabel

log = logging.getLogger(__name__)

MIN_PER_LABEL = 5
# Dataset type -> the modality of its feature encoder.
MODALITY = {0: "image", 100: "text", 200: "audio"}
ANNOTATED_BY = BY_AUTO
_BATCH = 64
# Feature-cache rows per write, and the least time between two progress reports: each is a
# write transaction, and on SQLite a stop request must get the write lock between them.
_SAVE_ROWS = 64
_REPORT_EVERY_S = 0.5
_WRITE_CHUNK = 500
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


@dataclass
class _Snapshot:
    dataset_type: int
    classes: list[str]
    label_types: dict[str, int]
    labeled: list[SampleFile]
    y: np.ndarray
    targets: list[SampleFile]
    total: int


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
    ) -> None:
        self._db = db
        self._sources = sources
        self._cache = cache
        self._models_dir = models_dir
        self._threads = threads
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
        from labelarts.ml.features.registry import open_encoder
        from labelarts.ml.pipeline import auto_label

        snap = self._snapshot()
        counts = {
            "total_sample_count": snap.total,
            "annotated_sample_count": len(snap.labeled),
            "unconfirmed_sample_count": 0,
        }
        ctx.report(0.01, **counts, message="Extracting features.")
        modality = MODALITY[snap.dataset_type]
        encoder = open_encoder(
            modality, self.spec.feature_model, model_dir=self._models_dir, threads=self._threads
        )
        everything = [*snap.labeled, *snap.targets]
        X, stats = self._features(ctx, encoder, everything, modality)
        n_labeled = len(snap.labeled)
        usable = np.all(np.isfinite(X), axis=1)
        train = usable[:n_labeled]
        target_ok = usable[n_labeled:]
        targets = [s for s, ok in zip(snap.targets, target_ok, strict=True) if ok]
        X_train, y_train = X[:n_labeled][train], snap.y[train]
        X_targets = X[n_labeled:][target_ok]
        stats_train = stats[:n_labeled][train] if stats is not None else None
        stats_targets = stats[n_labeled:][target_ok] if stats is not None else None
        ctx.report(_FEATURES_END, message="Training the model and labeling.")
        if not len(targets):
            raise LabelArtsError("No sample to be labeled could be read.", error_code="ModelArts.4392")

        def progress(fraction: float) -> None:
            ctx.report(_FEATURES_END + (_LEARN_END - _FEATURES_END) * max(0.0, min(1.0, fraction)))

        augmented: Callable[[np.ndarray], Mapping[int, np.ndarray]] | None = None
        if modality == "image" and self.spec.augment_budget > 0:
            augmented = self._augmenter(encoder, targets)
        outcome = auto_label(
            X_train,
            y_train,
            X_targets,
            n_classes=len(snap.classes),
            mode=self.spec.mode,
            target_precision=self.spec.target_precision,
            stats_labeled=stats_train,
            stats_unlabeled=stats_targets,
            augmented_features=augmented,
            augment_budget=self.spec.augment_budget,
            seed=0,
            progress=progress,
        )
        hard = outcome.hard
        if self.spec.confidence_scope is not None:
            _apply_confidence_scope(hard, outcome.confidence, self.spec.confidence_scope)
        ctx.report(_LEARN_END, message="Writing the results.")
        written, changed = self._write(ctx, snap, targets, outcome, hard)
        thresholds = {
            name: round(float(t), 4) for name, t in zip(snap.classes, outcome.thresholds, strict=True)
        }
        return {
            **counts,
            "unconfirmed_sample_count": written,
            "hard_sample_count": int(sum(bool(hard.hard[i]) for i in range(len(targets)))),
            "auto_accepted_sample_count": int(np.sum(outcome.accepted)),
            "failed_sample_count": int(len(snap.targets) - len(targets) + int(np.sum(~train))),
            "changed_during_task_count": changed,
            "classes": snap.classes,
            "thresholds": thresholds,
            "feature_model": encoder.name,
            "algorithm_type": self.spec.mode,
            "estimates": {k: round(float(v), 4) for k, v in outcome.estimates.items()},
            "message": f"Labeled {written} samples; {int(np.sum(hard.hard))} marked as hard examples.",
        }

    # -- steps ------------------------------------------------------------------------------------

    def _snapshot(self) -> _Snapshot:
        with self._db.session() as session:
            dataset = session.get(Dataset, self.spec.dataset_id)
            if dataset is None:
                raise LabelArtsError("The dataset was deleted.", error_code="ModelArts.4352")
            label_types = {
                label.name: label.type
                for label in session.execute(select(Label).where(Label.dataset_id == dataset.id)).scalars()
            }
            rows = session.execute(
                select(
                    Sample.id,
                    Sample.sample_status,
                    Sample.sample_name,
                    Sample.source_kind,
                    Sample.source_key,
                    Sample.content_hash,
                )
                .where(Sample.dataset_id == dataset.id)
                .order_by(Sample.id)
            ).all()
            manual = [r for r in rows if r.sample_status == MANUAL]
            names: dict[str, str] = {}
            for chunk in chunks([r.id for r in manual], _WRITE_CHUNK):
                for sample_id, labels in labels_of(session, chunk).items():
                    distinct_names = {label.name for label in labels}
                    if len(distinct_names) == 1:  # single-label classification trains on these
                        names[sample_id] = distinct_names.pop()
            dataset_type = dataset.dataset_type

        def file(r: Any) -> SampleFile:
            return SampleFile(
                r.id, self.spec.dataset_id, r.sample_name, r.source_kind, r.source_key, r.content_hash
            )

        per_class: dict[str, int] = {}
        for name in names.values():
            per_class[name] = per_class.get(name, 0) + 1
        classes = sorted(n for n, c in per_class.items() if c >= MIN_PER_LABEL)
        if len(classes) < 2:
            raise LabelArtsError(
                "Fewer than two labels have five labeled samples any more.", error_code="ModelArts.4406"
            )
        index = {name: i for i, name in enumerate(classes)}
        labeled = [r for r in manual if names.get(r.id) in index]
        targets = [file(r) for r in rows if r.sample_status in (UNLABELED, AUTO)]
        return _Snapshot(
            dataset_type=dataset_type,
            classes=classes,
            label_types={name: label_types.get(name, 0) for name in classes},
            labeled=[file(r) for r in labeled],
            y=np.array([index[names[r.id]] for r in labeled], dtype=np.int64),
            targets=targets,
            total=len(rows),
        )

    def _read(self, sample: SampleFile) -> bytes:
        try:
            return self._sources.read_bytes(sample)
        except LabelArtsError:
            return b""  # gone: the encoder gives a NaN row and the sample is skipped

    def _features(
        self, ctx: TaskContext, encoder: Any, samples: Sequence[SampleFile], modality: str
    ) -> tuple[np.ndarray, np.ndarray | None]:
        from labelarts.ml.image_stats import image_stats

        cached = self._cache.load(encoder.name, [s.sample_id for s in samples])
        missing = [s for s in samples if s.sample_id not in cached]
        done = 0
        ctx.report(0.02, cached_feature_count=len(cached), encoded_feature_count=0)

        unsaved: list[tuple[str, np.ndarray, np.ndarray | None]] = []

        saved = [0]  # rows in the cache so far (what a restarted task will not encode again)

        def save() -> None:
            if unsaved:
                self._cache.store(encoder.name, self.spec.dataset_id, unsaved)
                saved[0] += len(unsaved)
                unsaved.clear()

        def finish(batch: Sequence[SampleFile], vectors: np.ndarray, decoded: list[Any] | None) -> int:
            """Image statistics of one batch and, every _SAVE_ROWS rows, the cache write (off the
            encoder's thread; few, larger write transactions keep SQLite's lock free for others)."""
            stats_rows: list[np.ndarray | None] = [None] * len(batch)
            for j, item in enumerate(decoded or []):
                if item is not None:
                    stats_rows[j] = image_stats(item[0], item[1])
            rows = [(s.sample_id, vectors[j], stats_rows[j]) for j, s in enumerate(batch)]
            unsaved.extend(rows)
            if len(unsaved) >= _SAVE_ROWS:
                save()
            for sample_id, vector, stat in rows:
                ok = bool(np.all(np.isfinite(vector)))
                cached[sample_id] = CachedFeature(vector if ok else None, stat)
            return len(batch)

        # Three stages overlap: the encoder's threads read and decode the next files, the
        # network works on this batch, and another thread computes statistics and writes the
        # previous batch to the cache.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="autolabel-write") as writer:
            written: list[Future[int]] = []
            position = 0
            last_report = time.monotonic()
            for vectors, decoded in self._encode_stream(encoder, missing, modality):
                batch = missing[position : position + len(vectors)]
                position += len(vectors)
                # At most one batch waits for the writer, so memory stays bounded.
                while len(written) > 1 or (written and written[0].done()):
                    done += written.pop(0).result()
                written.append(writer.submit(finish, batch, vectors, decoded))
                if time.monotonic() - last_report >= _REPORT_EVERY_S:
                    ctx.report(
                        0.02 + (_FEATURES_END - 0.02) * done / len(missing),
                        encoded_feature_count=saved[0],
                    )
                    last_report = time.monotonic()
            for future in written:
                done += future.result()
            writer.submit(save).result()
            if missing:
                ctx.report(_FEATURES_END, encoded_feature_count=done)
        X = np.full((len(samples), encoder.dim), np.nan, dtype=np.float32)
        stats = np.full((len(samples), 6), np.nan) if modality == "image" else None
        for i, s in enumerate(samples):
            item = cached[s.sample_id]
            if item.vector is not None:
                X[i] = item.vector
            if stats is not None and item.stats is not None:
                stats[i] = item.stats
        if stats is not None and not np.all(np.isfinite(stats[np.all(np.isfinite(X), axis=1)])):
            stats = None  # stats missing for some readable image: skip rules 5-10 rather than guess
        return X, stats

    def _encode_stream(
        self, encoder: Any, samples: Sequence[SampleFile], modality: str
    ) -> Iterator[tuple[np.ndarray, list[Any] | None]]:
        """(features, decoded images or None) batch by batch, in the order of ``samples``."""
        if modality == "image":
            # The encoder pulls files from this generator on its decoding threads.
            yield from encoder.encode_with_images_iter(self._read(s) for s in samples)
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
                yield encoder.encode(payloads), None

    def _augmenter(
        self, encoder: Any, targets: Sequence[SampleFile]
    ) -> Callable[[np.ndarray], Mapping[int, np.ndarray]]:
        from labelarts.ml.augment import AUGMENTATIONS
        from labelarts.ml.features.image import decode_image

        def augmented(indices: np.ndarray) -> Mapping[int, np.ndarray]:
            out: dict[int, list[np.ndarray]] = {code: [] for code in AUGMENTATIONS}
            for chunk in chunks(list(indices), 32):
                images: list[Any] = []
                for i in chunk:
                    try:
                        images.append(decode_image(self._read(targets[int(i)]), size=256)[0])
                    except ValueError:
                        images.append(None)
                for code, perturb in AUGMENTATIONS.items():
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

    def _write(
        self, ctx: TaskContext, snap: _Snapshot, targets: Sequence[SampleFile], outcome: Any, hard: Any
    ) -> tuple[int, int]:
        """All results in one transaction; returns (written, skipped because a person changed them)."""
        by_id = {s.sample_id: i for i, s in enumerate(targets)}
        written = 0
        with self._db.session() as session:
            # Under the task's row lock: a stop that comes now waits, and one that came first wins.
            if ctx.stop_requested(session):
                raise StopRequested
            for chunk in chunks(list(by_id), _WRITE_CHUNK):
                rows = list(
                    session.execute(
                        select(Sample).where(
                            Sample.id.in_(chunk), Sample.sample_status.in_([UNLABELED, AUTO])
                        )
                    ).scalars()
                )
                session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_([r.id for r in rows])))
                for sample in rows:
                    i = by_id[sample.id]
                    name = snap.classes[int(outcome.predicted[i])]
                    score = round(float(outcome.confidence[i]), 6)
                    is_hard = bool(hard.hard[i])
                    coefficient = round(float(hard.coefficient[i]), 6)
                    label = LabelInput(
                        name=name,
                        type=snap.label_types[name],
                        score=score,
                        property={
                            "@modelarts:hard": "true" if is_hard else "false",
                            "@modelarts:hard_coefficient": str(coefficient),
                        },
                        annotated_by=ANNOTATED_BY,
                    )
                    set_sample_labels(session, sample, [label], status=AUTO, new=True)
                    sample.hard = is_hard
                    sample.hard_coefficient = coefficient
                    metadata = dict(sample.metadata_)
                    metadata["@modelarts:hard_reasons"] = list(hard.reasons[i])
                    details = hard.details(i)
                    if details:
                        metadata["@labelarts:hard_details"] = details
                    else:
                        metadata.pop("@labelarts:hard_details", None)
                    sample.metadata_ = metadata
                    written += 1
            bump_data_version(session, self.spec.dataset_id)
        return written, len(targets) - written


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
