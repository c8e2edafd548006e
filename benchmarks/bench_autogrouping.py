"""Auto grouping quality: adjusted Rand index (ARI) of the groups against the true classes of
the 2,000 CIFAR-10 images in ``shared/data/cifar10-train-200`` (10 classes, 200 each).

It runs :func:`labelarts.ml.grouping.group_images`, the function the ``auto-grouping`` task
runs, on EfficientNet-Lite0 features (``shared_data.cached_features``: encoded once and cached)
and the images' statistics (:func:`labelarts.ml.image_stats.image_stats`, as the task's feature
cache keeps them), for ``n_clusters`` 10 (the true number) and the ``--k`` values given, with
each option (brightness, colorfulness, ambiguity) alone; and, for context, k-means on raw
32 x 32 pixels. Also the adjusted mutual information and the grouping time. The load
average is printed with the figures (the machine is shared). Run from the repository root::

    python -m benchmarks.bench_autogrouping
    python -m benchmarks.bench_autogrouping --k 10,20 --seeds 3
"""

from __future__ import annotations

import argparse
import io
import os
import time

import numpy as np
from PIL import Image
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from benchmarks import shared_data
from labelarts.ml.grouping import group_images
from labelarts.ml.image_stats import image_stats


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--k", default="10,20", help="numbers of groups, comma-separated")
    parser.add_argument("--seeds", type=int, default=3, help="k-means seeds per setting (mean shown)")
    parser.add_argument("--model", default="efficientnet-lite0")
    args = parser.parse_args()

    features, y, class_names = shared_data.cached_features("cifar10", args.model)
    payloads, y_files, _ = shared_data.load_cifar10()
    assert np.array_equal(y, y_files)
    stats = np.array([image_stats(*_decoded(p)) for p in payloads])
    pixels = np.stack(
        [np.asarray(Image.open(io.BytesIO(p)).convert("RGB"), dtype=np.float32).ravel() for p in payloads]
    )
    print(
        f"CIFAR-10: {len(y)} images, {len(class_names)} classes; features {args.model}; "
        f"load {os.getloadavg()}"
    )
    print(f"{'k':>3} {'features':<28} {'ARI':>6} {'AMI':>6} {'seconds':>8}")
    options = {
        "content": {},
        "content + brightness": {"brightness": True},
        "content + colorfulness": {"colorfulness": True},
        "content + ambiguity": {"ambiguity": True},
    }
    for k in (int(v) for v in args.k.split(",")):
        for name, flags in options.items():
            aris, amis, seconds = [], [], []
            for seed in range(args.seeds):
                started = time.perf_counter()
                groups = group_images(features, k, stats=stats, seed=seed, **flags)
                seconds.append(time.perf_counter() - started)
                aris.append(adjusted_rand_score(y, groups))
                amis.append(adjusted_mutual_info_score(y, groups))
            print(f"{k:>3} {name:<28} {np.mean(aris):6.3f} {np.mean(amis):6.3f} {np.mean(seconds):8.2f}")
        raw = [KMeans(n_clusters=k, n_init=10, random_state=s).fit_predict(pixels) for s in range(args.seeds)]
        print(
            f"{k:>3} {'raw pixels (baseline)':<28} {np.mean([adjusted_rand_score(y, g) for g in raw]):6.3f} "
            f"{np.mean([adjusted_mutual_info_score(y, g) for g in raw]):6.3f} {'':>8}"
        )
    print(f"load after: {os.getloadavg()}")


def _decoded(payload: bytes) -> tuple[Image.Image, tuple[int, int]]:
    image = Image.open(io.BytesIO(payload)).convert("RGB")
    return image, image.size


if __name__ == "__main__":
    main()
