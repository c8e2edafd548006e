"""Which samples to label first: the service's proposals (``collect_key_sample``) against random.

A person labels in rounds of ``5 x C`` samples (C classes): round 1 from nothing, rounds 2-4
after auto labeling has run (so the model's predictions are known). After each round the
samples still unlabeled are auto-labeled (``auto_label``, ``fast``, as the service's default
task) and the person reviews the rest once, 50 to a page, in the order the service lists them:
each wrong auto label is corrected (1 action), the right ones of a page are confirmed at once
(1 action). Effort saved = 1 - (hand labels + corrections + page confirmations) / N, the cost
model of ``bench_autolabel_quality``'s simulation without its retraining, so that each point of
the curve is one ``auto_label`` call.

Arms (which samples make each round):

* ``random``: uniformly random (the control arm; what a person without labels can do);
* ``per-class``: random, ``5`` of each class a round (the quality benchmark's draw; a person
  cannot do this without knowing the labels, shown as a reference);
* ``service``: typicality (TypiClust) for round 1, uncertainty with diversity after
  (:func:`labelarts.ml.selection.propose`, what ``collect_key_sample`` proposes);
* ``typical``: typicality every round.

Classes with fewer than two labeled samples are not learned (the head needs two); their samples
count as wrong auto labels. Run from the repository root::

    python -m benchmarks.bench_key_samples                # 5 seeds
    python -m benchmarks.bench_key_samples --seeds 2 --cases digits,fsdd
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence

import numpy as np

from benchmarks.shared_data import cached_features
from labelarts.ml.pipeline import auto_label
from labelarts.ml.selection import propose, typical_samples

CASES = (
    ("cifar10", "efficientnet-lite0"),
    ("agnews", "use-m3"),
    ("fsdd", "oww-speech-embedding"),
    ("digits", "raw-pixels"),
)
ARMS = ("random", "per-class", "service", "typical")
ROUNDS = (5, 5, 10)  # labels per class added by each round after the first 5 per class
FIRST = 5
PAGE = 50


def review_actions(predicted: np.ndarray, truth: np.ndarray, confidence: np.ndarray) -> int:
    """Corrections plus one confirmation per page holding a right label (pages in confidence order)."""
    order = np.argsort(-confidence, kind="stable")
    wrong = predicted[order] != truth[order]
    actions = int(wrong.sum())
    for start in range(0, wrong.size, PAGE):
        if not wrong[start : start + PAGE].all():
            actions += 1
    return actions


def label_rest(X: np.ndarray, y: np.ndarray, labeled: np.ndarray, n_classes: int, seed: int):
    """Auto-label everything not in ``labeled``; (rows, predicted, confidence, proba over all classes)."""
    rest = np.setdiff1d(np.arange(y.size), labeled)
    counts = np.bincount(y[labeled], minlength=n_classes)
    learned = np.flatnonzero(counts >= 2)
    if learned.size < 2:
        # Nothing to learn from: every remaining sample is labeled by hand.
        return rest, np.full(rest.size, -1), np.zeros(rest.size), None
    keep = labeled[np.isin(y[labeled], learned)]
    remap = np.full(n_classes, -1)
    remap[learned] = np.arange(learned.size)
    out = auto_label(X[keep], remap[y[keep]], X[rest], n_classes=learned.size, seed=seed)
    proba = np.zeros((rest.size, n_classes))
    proba[:, learned] = out.proba
    return rest, learned[out.predicted], out.confidence, proba


def curve(X: np.ndarray, y: np.ndarray, n_classes: int, arm: str, seed: int) -> list[tuple[int, float]]:
    """(labels so far, effort saved) after each round."""
    rng = np.random.default_rng(seed)
    n = y.size
    labeled = np.zeros(0, dtype=np.int64)
    points = []
    proba = None
    for per_class in (FIRST, *ROUNDS):
        budget = per_class * n_classes
        free = np.setdiff1d(np.arange(n), labeled)
        if arm == "random":
            new = rng.choice(free, budget, replace=False)
        elif arm == "per-class":
            new = np.concatenate(
                [rng.choice(free[y[free] == c], per_class, replace=False) for c in range(n_classes)]
            )
        elif arm == "typical":
            mask = np.zeros(n, dtype=bool)
            mask[labeled] = True
            new = typical_samples(X, budget, labeled=mask, seed=seed)
        elif arm == "service":
            picked = propose(
                X[free], budget, X_labeled=X[labeled] if labeled.size else None, proba=proba, seed=seed
            )
            new = free[picked]
        else:
            raise ValueError(arm)
        labeled = np.concatenate([labeled, np.asarray(new, dtype=np.int64)])
        rest, predicted, confidence, proba_rest = label_rest(X, y, labeled, n_classes, seed)
        proba = proba_rest
        actions = labeled.size + review_actions(predicted, y[rest], confidence)
        points.append((int(labeled.size), 1.0 - actions / n))
    return points


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--cases", default=None, help="comma-separated data sets")
    args = parser.parse_args(argv)
    wanted = set(args.cases.split(",")) if args.cases else None
    started = time.monotonic()
    command = " ".join(["python -m benchmarks.bench_key_samples", *(argv or [])])
    print(
        f"`{command}` on {platform.machine()} ({os.cpu_count()} CPUs), {args.seeds} seed(s), "
        f"load average {os.getloadavg()[0]:.1f} at the start"
    )
    print()
    per_class = np.cumsum((FIRST, *ROUNDS))
    head = " | ".join(f"{k}/class" for k in per_class)
    print(f"| data / features | arm | effort saved % at {head} |")
    print("|---|---|" + "--:|" * len(per_class))
    for dataset, model in CASES:
        if wanted is not None and dataset not in wanted:
            continue
        X, y, names = cached_features(dataset, model)
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        results: dict[str, np.ndarray] = {}
        for arm in ARMS:
            saved = np.array(
                [[s for _, s in curve(X, y, len(names), arm, seed)] for seed in range(args.seeds)]
            )
            results[arm] = saved
            spread = saved.std(axis=0, ddof=1) if args.seeds > 1 else np.zeros(saved.shape[1])
            cells = " | ".join(
                f"{100 * saved[:, j].mean():.1f} ± {100 * spread[j]:.1f}" for j in range(saved.shape[1])
            )
            print(f"| {dataset} / {model} | {arm} | {cells} |", flush=True)
        gain = " | ".join(
            f"{100 * (results['service'][:, j] - results['random'][:, j]).mean():+.1f}"
            for j in range(per_class.size)
        )
        print(f"| {dataset} / {model} | service - random (points) | {gain} |", flush=True)
    print()
    print(f"{(time.monotonic() - started) / 60:.1f} min; load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
