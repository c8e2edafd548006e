"""Where detection auto labeling's candidate boxes come from: the service's dense windows
(anchor shapes from the labeled boxes, slid over the image) against OpenCV's selective search
(``cv2.ximgproc``, in ``opencv-contrib-python-headless``), on ``../shared/data/bccd``.

For each draw, ``--k`` labeled images give the anchor shapes (as the task does); on ``--test``
other images each proposal source is judged by what the scorer can at best find:

* ``recall@0.5`` / ``recall@0.7``: share of true boxes that some proposal overlaps at that IoU
  (an object no proposal covers cannot be labeled, whatever the classifier);
* ``mean best IoU``: per true box, its best proposal's IoU, averaged;
* ``proposals``: per image; ``ms/image``: CPU time to make them (the dense windows are scored
  in one backbone pass, so their number costs pooling, not network runs).

Selective search needs the contrib build of OpenCV, which ships the same ``cv2`` module as the
``opencv-python-headless`` the service installs; keep it out of the service's environment::

    pip install --no-deps --target /tmp/cvcontrib opencv-contrib-python-headless==4.14.0.94
    PYTHONPATH=/tmp/cvcontrib python -m benchmarks.bench_detection_proposals --k 5 --test 60

Without it, only the dense windows are measured. Edge boxes are not measured: they need a
structured-edge model file that no wheel carries.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.bench_autolabel_detection import load_voc
from benchmarks.shared_data import data_dir
from labelarts.ml import detection


def coverage(proposals: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per true box, the best IoU any proposal reaches."""
    if not len(truth):
        return np.zeros(0)
    if not len(proposals):
        return np.zeros(len(truth))
    return np.asarray(detection.box_iou(truth, proposals).max(axis=1))


def dense_source(anchors: np.ndarray) -> Callable[[Path, tuple[int, int]], np.ndarray]:
    def make(_path: Path, size: tuple[int, int]) -> np.ndarray:
        return detection.windows(size, anchors)

    return make


def selective_search_source(top: int) -> Callable[[Path, tuple[int, int]], np.ndarray] | None:
    """The first ``top`` proposals of selective search (fast mode). Its ranking does not depend
    on ``top``: the search runs once per image and each ``top`` is a prefix of its answer, so
    each row's CPU time is that of the whole search."""
    try:
        import cv2
    except ImportError:
        return None
    if not hasattr(cv2, "ximgproc"):
        return None
    cv2.setNumThreads(1)

    def make(path: Path, _size: tuple[int, int]) -> np.ndarray:
        return _selective_search(str(path), cv2)[:top]

    return make


_SEARCHED: dict[str, tuple[np.ndarray, float]] = {}


def _selective_search(path: str, cv2: Any) -> np.ndarray:
    if path not in _SEARCHED:
        start = time.process_time()
        search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
        search.setBaseImage(cv2.imread(path))
        search.switchToSelectiveSearchFast()
        rects = np.asarray(search.process(), np.float64).reshape(-1, 4)
        boxes = np.stack([rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]], 1)
        _SEARCHED[path] = (boxes, time.process_time() - start)
    return _SEARCHED[path][0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--k", type=int, default=5, help="labeled images that give the anchor shapes")
    parser.add_argument("--test", type=int, default=60)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--tops", default="300,1000,2000", help="selective search: proposals kept")
    args = parser.parse_args()
    images = load_voc(args.data or data_dir() / "bccd")
    print(f"{len(images)} BCCD images; k={args.k} labeled, {args.test} test, {args.draws} draws")
    rows: dict[str, list[tuple[float, float, float, float, float]]] = {}
    for draw in range(args.draws):
        order = np.random.default_rng(draw).permutation(len(images))
        labeled = [images[i] for i in order[: args.k]]
        test = [images[i] for i in order[args.k : args.k + args.test]]
        anchors = detection._anchors(np.concatenate([boxes for _, boxes, _ in labeled]), draw)
        sources: dict[str, Callable[[Path, tuple[int, int]], np.ndarray] | None] = {
            f"dense windows ({len(anchors)} shapes)": dense_source(anchors)
        }
        for top in (int(t) for t in args.tops.split(",")):
            sources[f"selective search fast, top {top}"] = selective_search_source(top)
        for name, make in sources.items():
            if make is None:
                print(f"{name}: cv2.ximgproc missing (see the module's docstring)")
                continue
            best: list[np.ndarray] = []
            counts: list[int] = []
            cpu = 0.0
            for path, truth, _names in test:
                with Image.open(path) as image:
                    size = image.size
                start = time.process_time()
                proposals = make(path, size)
                cpu += time.process_time() - start
                if str(path) in _SEARCHED:  # selective search: its one search per image
                    cpu = cpu - (time.process_time() - start) + _SEARCHED[str(path)][1]
                counts.append(len(proposals))
                best.append(coverage(proposals, truth))
            ious = np.concatenate(best)
            rows.setdefault(name.split(" (")[0], []).append(
                (
                    float(np.mean(ious >= 0.5)),
                    float(np.mean(ious >= 0.7)),
                    float(np.mean(ious)),
                    float(np.mean(counts)),
                    1000 * cpu / len(test),
                )
            )
    print("| proposals | recall@0.5 | recall@0.7 | mean best IoU | proposals/image | ms/image (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in rows.items():
        mean = np.mean(np.asarray(values), axis=0)
        print(f"| {name} | {mean[0]:.3f} | {mean[1]:.3f} | {mean[2]:.3f} | {mean[3]:.0f} | {mean[4]:.1f} |")


if __name__ == "__main__":
    main()
