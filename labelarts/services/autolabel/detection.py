"""The body of an auto-labeling task on an object-detection dataset (``dataset_type`` 1).

The same three phases as :mod:`labelarts.services.autolabel.job`, the same claim by revision
and the same stop rules; what differs is what is learned and written:

1. **Read**: labeled images and the ``bndbox`` labels on them (other shapes are not learned
   from), the labels in use on at least five labeled images (the classes), and the targets with
   their revisions.
2. **Compute**: the feature maps of every labeled image (EfficientNet-Lite0, one input scale for
   the task chosen from the labeled boxes' sizes), :class:`labelarts.ml.detection.BoxDetector`
   fitted and calibrated on them, then each target image in turn: maps, boxes, box statistics.
   Maps are not cached (they depend on the scale, which depends on the labeled boxes): a second
   task computes them again. Then the flip checks on the least certain images (at most
   ``augment_budget``) and the hard-example reasons.
3. **Write**: per image, one label per box (``@modelarts:shape`` ``bndbox``, ``@modelarts:feature``
   ``[[x1, y1], [x2, y2]]``, ``score``), ``@modelarts:size`` and the hard-example fields in the
   metadata; an image where nothing was found is still written (no labels, reason 0).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from labelarts.errors import BadRequestError, LabelArtsError
from labelarts.jobs.runner import TaskContext
from labelarts.services.autolabel.features import chunks
from labelarts.services.autolabel.job import _READ_CHUNK, _REPORT_EVERY_S, MIN_PER_LABEL, AutoLabelJob
from labelarts.services.autolabel.writer import (
    AutoLabel,
    ChunkCallback,
    SampleResult,
    WriteOutcome,
    too_late_to_stop_progress,
    write_in_chunks,
    write_results,
)
from labelarts.services.samples.records import AUTO, MANUAL, UNLABELED, labels_of
from labelarts.storage.db.models import Dataset, Label, Sample

DETECTION_DATASET_TYPE = 1
DETECTION_FEATURE_MODEL = "efficientnet-lite0"
WRITTEN_SCORE = 0.5
"""Boxes whose calibrated score (chance of being right) is at least this are written."""
_MAPS_END, _FIT_END, _DETECT_END, _LEARN_END = 0.30, 0.40, 0.90, 0.97


@dataclass
class DetectionSnapshot:
    classes: list[str]
    label_types: dict[str, int]
    labeled: dict[str, list[tuple[str, list[float]]]]  # sample id -> (name, [x1, y1, x2, y2])
    target_ids: list[str]
    target_revisions: dict[str, int]
    total: int


@dataclass
class ImageResult:
    sample_id: str
    revision: int
    size: tuple[int, int, int]
    boxes: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    stats: np.ndarray
    reasons: list[int]


def _bndbox(prop: Any) -> list[float] | None:
    """``[x1, y1, x2, y2]`` of a ``bndbox`` label property, None for other shapes or bad points."""
    if not isinstance(prop, dict) or prop.get("@modelarts:shape") != "bndbox":
        return None
    points = prop.get("@modelarts:feature")
    try:
        (x1, y1), (x2, y2) = points  # type: ignore[misc]
        box = [float(min(x1, x2)), float(min(y1, y2)), float(max(x1, x2)), float(max(y1, y2))]
    except (TypeError, ValueError):
        return None
    if not all(math.isfinite(v) for v in box) or box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return None
    return box


class DetectionJob(AutoLabelJob):
    """Auto labeling of an object-detection dataset (see the module docstring)."""

    def check_model(self) -> None:
        name = self.spec.feature_model
        if name is not None and name != DETECTION_FEATURE_MODEL:
            raise BadRequestError(
                f"feature_model {name} is not available for object detection datasets; "
                f"choose {DETECTION_FEATURE_MODEL}.",
                error_code="ModelArts.4396",
            )

    # -- the task ---------------------------------------------------------------------------------

    def run(self, ctx: TaskContext) -> dict[str, Any]:
        snap = self.read_boxes()
        counts = {
            "total_sample_count": snap.total,
            "annotated_sample_count": len(snap.labeled),
            "unconfirmed_sample_count": 0,
        }
        ctx.report(0.01, **counts, message="Computing feature maps of the labeled images.")
        results, summary = self.compute_boxes(ctx, snap)
        ctx.report(_LEARN_END, message="Writing the results.")
        outcome = self.write_boxes(
            ctx, snap, results, on_chunk=too_late_to_stop_progress(ctx, _LEARN_END, 1.0)
        )
        n_hard = sum(1 for r in results if r.reasons)
        n_boxes = sum(len(r.scores) for r in results)
        return {
            **counts,
            **summary,
            "unconfirmed_sample_count": outcome.written,
            "changed_during_task_count": outcome.skipped,
            "message": f"Labeled {outcome.written} images with {n_boxes} boxes; "
            f"{n_hard} marked as hard examples.",
        }

    # -- read -------------------------------------------------------------------------------------

    def read_boxes(self) -> DetectionSnapshot:
        with self._db.session() as session:
            dataset = session.get(Dataset, self.spec.dataset_id)
            if dataset is None:
                raise LabelArtsError("The dataset was deleted.", error_code="ModelArts.4352")
            label_types = {
                label.name: label.type
                for label in session.execute(select(Label).where(Label.dataset_id == dataset.id)).scalars()
            }
            manual: list[str] = []
            targets: dict[str, int] = {}
            total = 0
            for sample_id, status, revision in session.execute(
                select(Sample.id, Sample.sample_status, Sample.revision)
                .where(Sample.dataset_id == dataset.id)
                .order_by(Sample.id)
                .execution_options(yield_per=10_000)
            ):
                total += 1
                if status == MANUAL:
                    manual.append(sample_id)
                elif status in (UNLABELED, AUTO):
                    targets[sample_id] = revision
            boxes: dict[str, list[tuple[str, list[float]]]] = {}
            names_of: dict[str, set[str]] = {}
            for chunk in chunks(manual, _READ_CHUNK):
                for sample_id, labels in labels_of(session, chunk).items():
                    names_of[sample_id] = {label.name for label in labels}
                    found = [(label.name, _bndbox(label.property)) for label in labels]
                    if found and all(box is not None for _, box in found):
                        boxes[sample_id] = [(name, box) for name, box in found if box is not None]
        per_label: dict[str, int] = {}
        for names in (names_of[s] for s in boxes):
            for name in names:
                per_label[name] = per_label.get(name, 0) + 1
        classes = sorted(n for n, c in per_label.items() if c >= MIN_PER_LABEL)
        if len(classes) < 2:
            raise LabelArtsError(
                "Fewer than two labels have boxes on five labeled images any more.",
                error_code="ModelArts.4406",
            )
        # An image with a box of a rarer label is left out: its box must not teach "background".
        labeled = {s: b for s, b in boxes.items() if all(name in classes for name, _ in b)}
        return DetectionSnapshot(
            classes=classes,
            label_types={name: label_types.get(name, 1) for name in classes},
            labeled=labeled,
            target_ids=list(targets),
            target_revisions=targets,
            total=total,
        )

    # -- compute ----------------------------------------------------------------------------------

    def _image(self, file: Any) -> Any:
        from labelarts.ml.features.image import decode_image

        try:
            return decode_image(self._read(file))[0]
        except ValueError:
            return None

    def compute_boxes(
        self, ctx: TaskContext, snap: DetectionSnapshot
    ) -> tuple[list[ImageResult], dict[str, Any]]:
        from labelarts.ml.detection import BoxDetector, Detections, LabeledImage, choose_scale
        from labelarts.ml.detection_hard import (
            FLIP_LR,
            FLIP_UD,
            LOW_CONFIDENCE,
            NOTHING_FOUND,
            BoxStatRules,
            box_statistics,
            flip_inconsistent,
        )
        from labelarts.ml.features.feature_map import open_feature_map_encoder

        encoder = open_feature_map_encoder(self._models_dir, self._threads)
        index = {name: i for i, name in enumerate(snap.classes)}
        scale = choose_scale(
            [np.array([b for _, b in boxes]) for boxes in snap.labeled.values()],
            [np.array([index[n] for n, _ in boxes]) for boxes in snap.labeled.values()],
        )
        labeled: list[LabeledImage] = []
        train_stats: list[np.ndarray] = []
        files = self._files(list(snap.labeled))
        last = time.monotonic()
        for done, file in enumerate(files, start=1):
            image = self._image(file)
            if image is None:
                continue
            boxes = np.array([b for _, b in snap.labeled[file.sample_id]], np.float64)
            labels = np.array([index[n] for n, _ in snap.labeled[file.sample_id]], np.int64)
            fm = encoder.maps(image, scale)
            labeled.append(LabeledImage(fm.maps, fm.scale, image.size, boxes, labels))
            train_stats.append(box_statistics(boxes, image.size, _gray(image)))
            if time.monotonic() - last >= _REPORT_EVERY_S:
                ctx.report(0.01 + (_MAPS_END - 0.01) * done / len(files))
                last = time.monotonic()
        if not labeled:
            raise LabelArtsError("No labeled image could be read.", error_code="ModelArts.4392")
        ctx.report(_MAPS_END, message="Training the detector.")
        detector = BoxDetector(len(snap.classes)).fit_calibrated(
            labeled,
            target_precision=self.spec.target_precision,
            progress=lambda f: ctx.report(_MAPS_END + (_FIT_END - _MAPS_END) * f),
        )
        del labeled
        rules = BoxStatRules().fit(np.array(train_stats))
        ctx.report(_FIT_END, message="Finding boxes.")

        results: list[ImageResult] = []
        failed = 0
        target_files = self._files(snap.target_ids)
        last = time.monotonic()
        for done, file in enumerate(target_files, start=1):
            image = self._image(file)
            if image is None:
                failed += 1
                continue
            fm = encoder.maps(image, scale)
            found = detector.detect(fm.maps, fm.scale, image.size).above(WRITTEN_SCORE)
            stats = box_statistics(found.boxes, image.size, _gray(image))
            reasons = [NOTHING_FOUND] if not len(found) else rules.reasons(stats)
            if len(found) and self._low_confidence(found.scores, detector.thresholds[found.labels]):
                reasons.append(LOW_CONFIDENCE)
            results.append(
                ImageResult(
                    sample_id=file.sample_id,
                    revision=snap.target_revisions[file.sample_id],
                    size=(image.size[0], image.size[1], 3),
                    boxes=found.boxes,
                    labels=found.labels,
                    scores=found.scores,
                    stats=stats,
                    reasons=reasons,
                )
            )
            if time.monotonic() - last >= _REPORT_EVERY_S:
                ctx.report(_FIT_END + (_DETECT_END - _FIT_END) * done / len(target_files))
                last = time.monotonic()
        failed += len(snap.target_ids) - len(target_files)
        if not results:
            raise LabelArtsError("No image to be labeled could be read.", error_code="ModelArts.4392")

        # Flip checks on the least certain images that have boxes (lowest best... lowest box score).
        ctx.report(_DETECT_END, message="Checking flipped copies.")
        candidates = sorted(
            (i for i, r in enumerate(results) if len(r.scores)), key=lambda i: float(results[i].scores.min())
        )[: self.spec.augment_budget]
        by_id = {f.sample_id: f for f in target_files}
        last = time.monotonic()
        for done, i in enumerate(candidates, start=1):
            result = results[i]
            image = self._image(by_id[result.sample_id])
            if image is None:
                continue
            written = Detections(result.boxes, result.labels, result.scores)
            for code, axis, transpose in ((FLIP_LR, "lr", 0), (FLIP_UD, "ud", 1)):
                from PIL import Image

                mirrored = image.transpose(
                    Image.Transpose.FLIP_LEFT_RIGHT if transpose == 0 else Image.Transpose.FLIP_TOP_BOTTOM
                )
                fm = encoder.maps(mirrored, scale)
                if flip_inconsistent(
                    written, detector.detect(fm.maps, fm.scale, image.size), image.size, axis
                ):
                    result.reasons.append(code)
            if time.monotonic() - last >= _REPORT_EVERY_S:
                ctx.report(_DETECT_END + (_LEARN_END - _DETECT_END) * done / len(candidates))
                last = time.monotonic()
        for result in results:
            result.reasons = sorted(set(result.reasons))
        n_boxes = sum(len(r.scores) for r in results)
        accepted = sum(
            int(np.sum(r.scores >= detector.thresholds[r.labels])) for r in results if len(r.scores)
        )
        summary = {
            "hard_sample_count": sum(1 for r in results if r.reasons),
            "auto_accepted_box_count": accepted,
            "box_count": n_boxes,
            "failed_sample_count": failed + len(snap.labeled) - len(train_stats),
            "classes": snap.classes,
            "thresholds": {
                name: round(float(t), 4) for name, t in zip(snap.classes, detector.thresholds, strict=True)
            },
            "feature_model": DETECTION_FEATURE_MODEL,
            "algorithm_type": self.spec.mode,
            "calibration": dict(zip(snap.classes, detector.calibration, strict=True)),
            "input_scale": round(scale, 4),
            "n_flip_checked": len(candidates),
            "estimates": {k: round(float(v), 4) for k, v in detector.estimates.items()},
        }
        return results, summary

    def _low_confidence(self, scores: np.ndarray, thresholds: np.ndarray) -> bool:
        if self.spec.confidence_scope is not None:
            low, high = self.spec.confidence_scope
            return bool(np.any((scores >= low) & (scores <= high)))
        return bool(np.any(scores < thresholds))

    # -- write ------------------------------------------------------------------------------------

    def write_boxes(
        self,
        ctx: TaskContext,
        snap: DetectionSnapshot,
        results: Sequence[ImageResult],
        *,
        on_chunk: ChunkCallback | None = None,
    ) -> WriteOutcome:
        """As :meth:`AutoLabelJob.write`: chunks claimed by revision, a stop before the first."""
        return write_in_chunks(
            self._db,
            ctx,
            len(results),
            self._write_rows,
            lambda session, rows: self._write_box_chunk(session, snap, [results[i] for i in rows]),
            on_chunk=on_chunk,
        )

    def _write_box_chunk(self, session: Any, snap: DetectionSnapshot, chunk: Sequence[ImageResult]) -> int:
        from labelarts.ml.hard import DETECTION_REASONS

        written: list[SampleResult] = []
        for r in chunk:
            mean_score = float(np.mean(r.scores)) if len(r.scores) else 0.0
            labels = []
            for box, label, score in zip(r.boxes, r.labels, r.scores, strict=True):
                x1, y1, x2, y2 = (round(float(v), 1) for v in box)
                shape = {"@modelarts:shape": "bndbox", "@modelarts:feature": [[x1, y1], [x2, y2]]}
                labels.append(AutoLabel(snap.classes[int(label)], float(score), shape))
            written.append(
                SampleResult(
                    sample_id=r.sample_id,
                    revision=r.revision,
                    labels=labels,
                    hard=bool(r.reasons),
                    coefficient=1.0 - mean_score * 0.8 ** len(r.reasons),
                    reasons=list(r.reasons),
                    details={str(code): DETECTION_REASONS[code].detail() for code in r.reasons},
                    top_score=float(r.scores.max()) if len(r.scores) else None,
                    metadata_defaults={"@modelarts:size": list(r.size)},
                )
            )
        return len(write_results(session, self.spec.dataset_id, written, label_types=snap.label_types))


def _gray(image: Any) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64)
