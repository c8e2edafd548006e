"""Object-detection auto labeling on BCCD (blood-smear photos, VOC boxes: RBC, WBC, Platelets).

The same pure code the task runs (``labelarts.ml.detection`` on the EfficientNet-Lite0 feature
maps of ``labelarts.ml.features.feature_map``), learning from ``k`` labeled images and finding
boxes on held-out test images. For each ``k``, over ``--repeats`` random draws of the labeled
images (the test images never change):

* mAP@0.5 per class and overall (pycocotools, COCO-style 101-point interpolation, IoU 0.5),
  from every box found (scores down to the detector's floor of 0.05 raw probability);
* share of true boxes found: true boxes matched (IoU >= 0.5, same label) by a box the task
  writes (calibrated score >= 0.5, ``WRITTEN_SCORE``);
  the same share under the pooled calibration (one Platt map for all labels, the rule before);
* expected calibration error (10 bins) of every box found, per label, under the per-label
  calibration the task uses and under the pooled one;
* precision above the auto-accept threshold: boxes at or above their label's threshold that
  match a true box, over all such boxes, how many there were, and the share of true boxes they
  cover; for the task's rule and for each ``--zs`` (the Wilson z of the threshold rule; 0 is the
  rule before, the held-out precision itself);
* seconds per image: feature maps, detection, and (once) training with calibration.

Images whose labeled draw has a label on fewer than five images are redrawn, as the task would
refuse them. ``--scale-rule percentile10`` measures the input-scale rule before (the 10th
percentile of all labeled boxes' shorter sides). Print figures; note ``uptime`` with them (the
machine is shared).

    nice -n 10 python -m benchmarks.bench_autolabel_detection --data /work/shared/data/bccd \
        --ks 5,20 --test 60 --repeats 1
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from labelarts.ml.calibration import expected_calibration_error
from labelarts.ml.detection import (
    SCALE_RANGE,
    TARGET_SHORT_SIDE,
    BoxDetector,
    Detections,
    LabeledImage,
    _thresholds,
    choose_scale,
    match_detections,
)
from labelarts.ml.features.feature_map import open_feature_map_encoder

WRITTEN_SCORE = 0.5


def load_voc(root: Path) -> list[tuple[Path, np.ndarray, list[str]]]:
    out = []
    for xml in sorted((root / "Annotations").glob("*.xml")):
        tree = ET.parse(xml).getroot()
        image = root / "JPEGImages" / (tree.findtext("filename") or xml.with_suffix(".jpg").name)
        boxes, names = [], []
        for obj in tree.iter("object"):
            bb = obj.find("bndbox")
            if bb is None:
                continue
            vals = [float(bb.findtext(k) or 0) for k in ("xmin", "ymin", "xmax", "ymax")]
            if vals[2] > vals[0] and vals[3] > vals[1]:
                boxes.append(vals)
                names.append((obj.findtext("name") or "").strip())
        if image.exists():
            out.append((image, np.array(boxes, np.float64).reshape(-1, 4), names))
    return out


def coco_map(
    truth: list[tuple[np.ndarray, np.ndarray]], found: list[Detections], classes: list[str]
) -> dict[str, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt: dict[str, Any] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(classes)],
    }
    dets = []
    aid = 1
    for img_id, ((boxes, labels), det) in enumerate(zip(truth, found, strict=True), start=1):
        gt["images"].append({"id": img_id, "width": 640, "height": 480})
        for b, lab in zip(boxes, labels, strict=True):
            gt["annotations"].append(
                {
                    "id": aid,
                    "image_id": img_id,
                    "category_id": int(lab) + 1,
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    "area": float((b[2] - b[0]) * (b[3] - b[1])),
                    "iscrowd": 0,
                }
            )
            aid += 1
        for b, lab, s in zip(det.boxes, det.labels, det.scores, strict=True):
            dets.append(
                {
                    "image_id": img_id,
                    "category_id": int(lab) + 1,
                    "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                    "score": float(s),
                }
            )
    result: dict[str, float] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        detections = coco.loadRes(dets) if dets else None
        for cid, name in enumerate(classes, start=1):
            if detections is None:
                result[name] = 0.0
                continue
            ev = COCOeval(coco, detections, "bbox")
            ev.params.iouThrs = np.array([0.5])
            ev.params.catIds = [cid]
            ev.params.maxDets = [1, 10, 300]
            ev.params.areaRng = [[0, 1e10]]
            ev.params.areaRngLbl = ["all"]
            ev.evaluate()
            ev.accumulate()
            precision = ev.eval["precision"][0, :, 0, 0, -1]
            result[name] = float(np.mean(precision[precision > -1])) if (precision > -1).any() else 0.0
    result["mAP"] = float(np.mean([result[n] for n in classes]))
    return result


Truth = list[tuple[np.ndarray, np.ndarray]]


def written_share(scored: list[Detections], truth: Truth, classes: list[str]) -> dict[str, float]:
    """Share of true boxes (per class and all) matched by a box the task writes (score >= 0.5)."""
    out: dict[str, float] = {}
    for c, name in enumerate(classes):
        n = sum(
            int(match_detections(d.above(WRITTEN_SCORE), b[lab == c], lab[lab == c]).sum())
            for d, (b, lab) in zip(scored, truth, strict=True)
        )
        out[name] = round(n / max(1, sum(int((lab == c).sum()) for _, lab in truth)), 3)
    n_all = sum(
        int(match_detections(d.above(WRITTEN_SCORE), b, lab).sum())
        for d, (b, lab) in zip(scored, truth, strict=True)
    )
    out["all"] = round(n_all / max(1, sum(len(b) for b, _ in truth)), 3)
    return out


def ece(scored: list[Detections], hits: list[np.ndarray], classes: list[str]) -> dict[str, float | None]:
    """Expected calibration error (10 bins) of every box found, per label and all."""
    scores = np.concatenate([d.scores for d in scored])
    labels = np.concatenate([d.labels for d in scored])
    right = np.concatenate(hits)
    out: dict[str, float | None] = {}
    for c, name in enumerate(classes):
        mine = labels == c
        out[name] = (
            round(expected_calibration_error(scores[mine], right[mine], 10), 3) if mine.any() else None
        )
    out["all"] = round(expected_calibration_error(scores, right, 10), 3)
    return out


def _rescored(d: Detections, scores: np.ndarray) -> Detections:
    return Detections(d.boxes, d.labels, np.asarray(scores, np.float64))


def _percentile_scale(boxes: list[np.ndarray]) -> float:
    """The input scale rule before: the 10th percentile of all labeled boxes' shorter sides."""
    sides = np.concatenate([np.minimum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) for b in boxes if len(b)])
    return float(np.clip(TARGET_SHORT_SIDE / max(1.0, float(np.percentile(sides, 10))), *SCALE_RANGE))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path("/work/shared/data/bccd"))
    parser.add_argument("--ks", default="5,20")
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--target-precision", type=float, default=0.95)
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=Path(
            os.environ.get("LABELARTS_MODELS_DIR", Path(tempfile.gettempdir()) / "labelarts-bench-models")
        ),
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--scale-rule",
        choices=["label-median", "percentile10"],
        default="label-median",
        help="label-median: the task's rule; percentile10: the rule before (10th percentile of all boxes)",
    )
    parser.add_argument("--zs", default="0,1,1.645,2.326", help="auto-accept rules to compare (Wilson z)")
    args = parser.parse_args()
    records = load_voc(args.data)
    classes = sorted({n for _, _, names in records for n in names})
    index = {n: i for i, n in enumerate(classes)}
    rng = np.random.default_rng(0)
    order = rng.permutation(len(records))
    test_ids = order[: args.test]
    pool_ids = order[args.test :]
    encoder = open_feature_map_encoder(args.models_dir, args.threads)
    images = {i: Image.open(records[i][0]).convert("RGB") for i in order}
    print(f"uptime: {os.getloadavg()}; {len(records)} images, classes {classes}, test {len(test_ids)}")
    for k in (int(v) for v in args.ks.split(",")):
        for repeat in range(args.repeats):
            while True:
                chosen = rng.choice(pool_ids, size=k, replace=False)
                per_label = {n: sum(n in records[i][2] for i in chosen) for n in classes}
                if min(per_label.values()) >= 5:
                    break
            boxes = [records[i][1] for i in chosen]
            box_labels = [np.array([index[n] for n in records[i][2]], np.int64) for i in chosen]
            scale = (
                choose_scale(boxes, box_labels)
                if args.scale_rule == "label-median"
                else _percentile_scale(boxes)
            )
            start = time.perf_counter()
            labeled = []
            for i, labels in zip(chosen, box_labels, strict=True):
                fm = encoder.maps(images[i], scale)
                labeled.append(LabeledImage(fm.maps, fm.scale, images[i].size, records[i][1], labels))
            t_maps_train = time.perf_counter() - start
            start = time.perf_counter()
            detector = BoxDetector(len(classes)).fit_calibrated(
                labeled, target_precision=args.target_precision
            )
            t_fit = time.perf_counter() - start
            raw: list[Detections] = []
            truth = []
            t_maps = t_detect = 0.0
            for i in test_ids:
                t0 = time.perf_counter()
                fm = encoder.maps(images[i], scale)
                t1 = time.perf_counter()
                raw.append(detector.detect(fm.maps, fm.scale, images[i].size, calibrated=False))
                t_detect += time.perf_counter() - t1
                t_maps += t1 - t0
                truth.append((records[i][1], np.array([index[n] for n in records[i][2]], np.int64)))
            # Both calibrations of the same boxes: each is monotone within a label, so the
            # ranking per label, the AP and the matches are the same; the scores are not.
            found = [_rescored(d, detector.calibrate(d.scores, d.labels)) for d in raw]
            pooled = [_rescored(d, detector.calibrate(d.scores, d.labels, pooled=True)) for d in raw]
            ap = coco_map(truth, found, classes)
            hits = [match_detections(d, b, lab) for d, (b, lab) in zip(found, truth, strict=True)]
            n_true = sum(len(b) for b, _ in truth)

            # Auto-accept rules: thresholds from the held-out boxes (the task's own calibration
            # data), precision and coverage on the test images.
            assert detector.heldout is not None
            held = detector.heldout
            held_scores = detector.calibrate(held.raw, held.labels)
            accept: dict[str, Any] = {}
            for z in (float(v) for v in args.zs.split(",")):
                thresholds = _thresholds(
                    held_scores, held.correct, held.labels, len(classes), args.target_precision, z
                )
                n_acc = n_acc_right = 0
                for d, right in zip(found, hits, strict=True):
                    keep = d.scores >= thresholds[d.labels]
                    n_acc += int(keep.sum())
                    n_acc_right += int(right[keep].sum())
                accept[f"z={z:g}"] = {
                    "precision": round(n_acc_right / n_acc, 3) if n_acc else None,
                    "accepted_boxes": n_acc,
                    "coverage_of_true_boxes": round(n_acc_right / n_true, 3),
                    "thresholds": {n: round(float(t), 3) for n, t in zip(classes, thresholds, strict=True)},
                }
            acc_hits = acc_n = 0
            for d, right in zip(found, hits, strict=True):
                keep = d.scores >= detector.thresholds[d.labels]
                acc_hits += int(right[keep].sum())
                acc_n += int(keep.sum())
            print(
                json.dumps(
                    {
                        "k": k,
                        "repeat": repeat,
                        "scale": round(scale, 3),
                        "anchors": len(detector.anchors),
                        "AP50": {n: round(v, 3) for n, v in ap.items()},
                        "found_share_written": written_share(found, truth, classes),
                        "found_share_written_pooled_calibration": written_share(pooled, truth, classes),
                        "ece_per_label": ece(found, hits, classes),
                        "ece_pooled_calibration": ece(pooled, hits, classes),
                        "calibration": dict(zip(classes, detector.calibration, strict=True)),
                        "accepted_precision": round(acc_hits / acc_n, 3) if acc_n else None,
                        "accepted_boxes": acc_n,
                        "accepted_coverage_of_true_boxes": round(acc_hits / n_true, 3),
                        "thresholds": {
                            n: round(float(t), 3) for n, t in zip(classes, detector.thresholds, strict=True)
                        },
                        "accept_rules": accept,
                        "estimates": {a: round(b, 3) for a, b in detector.estimates.items()},
                        "s_per_image_maps": round(t_maps / len(test_ids), 3),
                        "s_per_image_detect": round(t_detect / len(test_ids), 3),
                        "s_train_maps": round(t_maps_train, 1),
                        "s_fit_calibrate": round(t_fit, 1),
                        "load": os.getloadavg()[0],
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
