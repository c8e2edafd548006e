"""Feature analysis (``sys_data_analyse``): the distribution of image features over a dataset
(version), stored as the task's ``result`` and, for a version, as its ``data_analysis``.

Per image (:mod:`labelarts.ml.image_stats`): resolution, aspect ratio, brightness, saturation,
colorfulness and blur (Laplacian variance, ``sharpness``). Object detection adds boxes per
image and the standard deviation of their area ratios, and per box (:mod:`labelarts.ml.box_stats`):
aspect ratio, area ratio (box area / image area), marginalization, overlap, brightness and blur.
Each metric is a histogram of 10 equal bins between its minimum and maximum, for all samples
and per split of a version (``train``, ``eval``); ``is_normed`` gives fractions instead of
counts. ``boxes_per_label`` counts the boxes of each label, for all samples and per split.
"""

from __future__ import annotations

import io
import logging
from typing import Any, Final

import numpy as np
from PIL import Image
from sqlalchemy import select

from labelarts.errors import BadRequestError
from labelarts.jobs.runner import LeaseLost, TaskContext
from labelarts.ml.box_stats import box_stats
from labelarts.ml.image_stats import STAT_NAMES, image_stats
from labelarts.services.processing.job import boxes_of, read_input
from labelarts.services.processing.plan import parse_bool
from labelarts.services.processing.service import ProcessingService
from labelarts.storage.db.models import Dataset, DatasetVersion, ProcessorTask, VersionSample

log = logging.getLogger(__name__)

BINS: Final = 10
METRIC_NAMES: Final = {
    "resolution": "resolution",
    "aspect_ratio": "aspect_ratio",
    "brightness": "brightness",
    "saturation": "saturation",
    "colorfulness": "colorfulness",
    "sharpness": "blur",
}
BOX_METRICS: Final = (
    "box_count",
    "box_aspect_ratio",
    "box_area_ratio",
    "box_area_std",
    "box_marginalization",
    "box_overlap",
    "box_brightness",
    "box_blur",
)
REPORT_EVERY: Final = 200


def histogram(values: list[float], normed: bool) -> dict[str, list[float]]:
    if not values:
        return {"bins": [], "counts": []}
    array = np.asarray(values, dtype=np.float64)
    low, high = float(array.min()), float(array.max())
    if high <= low:
        high = low + 1.0
    counts, edges = np.histogram(array, bins=BINS, range=(low, high))
    shown: list[float] = (counts / counts.sum()).round(6).tolist() if normed else counts.astype(int).tolist()
    return {"bins": [round(float(e), 4) for e in edges], "counts": shown}


def run_analysis(service: ProcessingService, ctx: TaskContext) -> dict[str, Any]:
    task_id = str(ctx.config["analysis_task_id"])
    with service.db.session() as session:
        task = session.get(ProcessorTask, task_id)
        if task is None:
            raise LeaseLost
        params = dict((task.template.get("operator_params") or [{}])[0].get("params") or {})
        source = {"type": "DATASET", "dataset_id": task.dataset_id, "version_id": task.version_id}
        usage: dict[str, str] = {}
        if task.version_id is not None:
            usage = {
                sid: str(u).lower()
                for sid, u in session.execute(
                    select(VersionSample.sample_id, VersionSample.usage).where(
                        VersionSample.version_id == task.version_id, VersionSample.usage.is_not(None)
                    )
                ).all()
            }
        dataset = session.get(Dataset, task.dataset_id) if task.dataset_id else None
        dataset_type = dataset.dataset_type if dataset is not None else 0
    normed = parse_bool(params.get("is_normed", False), "is_normed")
    wanted = params.get("op_list") or []
    detection = params.get("task_type") == "object_detection" or dataset_type == 1
    values: dict[str, dict[str, list[float]]] = {}
    per_label: dict[str, dict[str, int]] = {}
    samples = boxes_total = labeled = 0

    def add(metric: str, split: str | None, value: float) -> None:
        per = values.setdefault(metric, {})
        per.setdefault("all", []).append(value)
        if split:
            per.setdefault(split, []).append(value)

    for record in read_input(service, ctx.project_id, source):
        samples += 1
        if record.labels:
            labeled += 1
        split = {"train": "train", "eval": "eval"}.get(usage.get(record.sample_id, ""))
        boxes = [b for b in boxes_of(record.labels) if b.xmax > b.xmin and b.ymax > b.ymin]
        try:
            data = service.read_file(ctx.project_id, record.kind, record.key)
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                stats = image_stats(image, image.size)
                width, height = image.size
                gray = np.asarray(image.convert("L"), dtype=np.float64) if boxes else None
        except Exception as exc:  # an undecodable file is counted, not measured
            log.info("analysis %s: sample %s not measured: %s", task_id, record.sample_id, exc)
            continue
        for name, value in zip(STAT_NAMES, stats, strict=True):
            add(METRIC_NAMES[name], split, float(value))
        if detection or boxes:
            add("box_count", split, float(len(boxes)))
            for box in boxes:
                w, h = box.xmax - box.xmin, box.ymax - box.ymin
                boxes_total += 1
                add("box_aspect_ratio", split, w / h)
                add("box_area_ratio", split, (w * h) / float(width * height))
                for where in ("all", split) if split else ("all",):
                    counted = per_label.setdefault(where, {})
                    counted[box.label] = counted.get(box.label, 0) + 1
            if boxes:
                corners = np.array([[b.xmin, b.ymin, b.xmax, b.ymax] for b in boxes])
                found = box_stats(corners, width, height, gray)
                add("box_area_std", split, found.area_std)
                for metric, numbers in (
                    ("box_marginalization", found.marginalization),
                    ("box_overlap", found.overlap),
                    ("box_brightness", found.brightness),
                    ("box_blur", found.blur),
                ):
                    for number in numbers:
                        add(metric, split, number)
        if samples % REPORT_EVERY == 0:
            ctx.report(0.5, finished_sample_count=samples)
    if labeled == 0:
        raise BadRequestError(
            "Can not start data analysis task, dataset version must contains annotated samples",
            error_code="ModelArts.4703",
        )
    metrics = {
        name: {split: histogram(v, normed) for split, v in per.items()}
        for name, per in values.items()
        if not wanted or name in wanted
    }
    result: dict[str, Any] = {"sample_count": samples, "box_count": boxes_total, "metrics": metrics}
    if detection and (not wanted or "boxes_per_label" in wanted):
        result["boxes_per_label"] = {
            split: dict(sorted(counts.items())) for split, counts in sorted(per_label.items())
        }
    with service.db.session() as session:
        task = session.get(ProcessorTask, task_id)
        if task is None:
            raise LeaseLost
        task.result = result
        if task.version_id is not None:
            version = session.get(DatasetVersion, task.version_id)
            if version is not None:
                version.stats = {
                    **version.stats,
                    "data_analysis": result,
                    "analysis_task_id": task.id,
                    "analysis_status": 2,
                }
    return {"sample_count": samples, "box_count": boxes_total}
