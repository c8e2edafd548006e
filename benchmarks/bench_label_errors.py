"""Wrong human labels: how well the label check (``check_labeled_samples``) finds planted flips.

For each data set in ``../shared/data`` (features from ``benchmarks.shared_data.cached_features``,
the service's default encoder per modality), a share of the human labels (5% and 10%) is flipped
at random to another class; the calibrated head's out-of-fold probabilities go through
:func:`labelarts.ml.label_errors.find_label_errors`, exactly as the task runs it when there is
nothing left to label (:func:`labelarts.ml.pipeline.check_human_labels`). Two settings: every
sample labeled ("check my finished dataset") and 50 labeled per class (an early round). Figures:
share flagged, precision and recall of the flags against the flips, and the estimate of the
number of wrong labels against the true number; mean over seeds (each seed another flip and draw).

Run from the repository root::

    python -m benchmarks.bench_label_errors             # 3 seeds
    python -m benchmarks.bench_label_errors --seeds 1   # quick
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from benchmarks.shared_data import cached_features
from labelarts.ml.pipeline import check_human_labels

CASES = (("cifar10", "efficientnet-lite0"), ("agnews", "use-m3"), ("fsdd", "oww-speech-embedding"))
NOISES = (0.05, 0.10)
SETTINGS = (None, 50)  # every sample labeled / this many labeled per class


def flip(y: np.ndarray, share: float, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    noisy = y.copy()
    chosen = rng.choice(y.size, size=round(share * y.size), replace=False)
    noisy[chosen] = (noisy[chosen] + rng.integers(1, n_classes, chosen.size)) % n_classes
    return noisy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    started = time.monotonic()
    print(
        f"{platform.machine()} ({os.cpu_count()} CPUs), {args.seeds} seed(s), "
        f"load {os.getloadavg()[0]:.1f} at start"
    )
    print()
    print(
        "| data / features | labeled | flipped % | flagged % | precision % | recall % "
        "| estimate / true | s / run |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|")
    for dataset, model in CASES:
        X_all, y_all, names = cached_features(dataset, model)
        X_all = np.asarray(X_all, dtype=np.float64)
        y_all = np.asarray(y_all, dtype=np.int64)
        n_classes = len(names)
        for per_class in SETTINGS:
            for noise in NOISES:
                rows = []
                for seed in range(args.seeds):
                    rng = np.random.default_rng(1000 + seed)
                    if per_class is None:
                        idx = np.arange(y_all.size)
                    else:
                        idx = np.concatenate(
                            [
                                rng.choice(np.flatnonzero(y_all == c), per_class, replace=False)
                                for c in range(n_classes)
                            ]
                        )
                    truth = y_all[idx]
                    noisy = flip(truth, noise, n_classes, rng)
                    t0 = time.monotonic()
                    errors = check_human_labels(X_all[idx], noisy, n_classes=n_classes, seed=seed)
                    seconds = time.monotonic() - t0
                    wrong = noisy != truth
                    hits = int(np.sum(errors.issue & wrong))
                    rows.append(
                        (
                            errors.issue.mean(),
                            hits / max(1, int(errors.issue.sum())),
                            hits / max(1, int(wrong.sum())),
                            errors.n_estimated,
                            int(wrong.sum()),
                            seconds,
                        )
                    )
                m = np.mean(np.array(rows, dtype=np.float64), axis=0)
                labeled = "all" if per_class is None else f"{per_class}/class"
                print(
                    f"| {dataset} / {model} | {labeled} | {noise * 100:.0f} | {m[0] * 100:.1f} "
                    f"| {m[1] * 100:.0f} | {m[2] * 100:.0f} | {m[3]:.0f} / {m[4]:.0f} | {m[5]:.1f} |",
                    flush=True,
                )
    print()
    print(f"{(time.monotonic() - started) / 60:.1f} min; load {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
