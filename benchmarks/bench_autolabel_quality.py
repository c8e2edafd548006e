"""Auto labeling quality on real labeled data, through the service's own pipeline (``auto_label``).

For each data set and feature model, k = 5 and 20 labeled samples per class (drawn at random,
one draw per seed), the rest auto-labeled in ``fast`` and ``accurate`` mode:

* **accuracy**: top-1 accuracy on the unlabeled rest, beside the plain probe of
  ``shared/data/README.md`` (logistic regression, C=10, raw features) on the same draws and the
  README's own figures;
* **ECE**: expected calibration error of the confidence (15 equal-width bins);
* **precision / coverage @95**: among auto-accepted labels (confidence >= the per-class threshold
  for a 95% target precision), the share that is right, and the share of samples accepted;
* **hard flags**: share flagged, precision and recall against the samples whose auto label is
  wrong, for the detector's flag (``HardExamples.hard``, "all"), for reason 1 alone, and for the
  rule suggested for reason 1 (``error_mass_flags``). CIFAR-10 runs pass image statistics (rules
  5-10). With ``--copies BUDGET`` the image data sets (CIFAR-10, sklearn digits) also pass
  perturbed copies (the codes of ``labelarts.ml.error_rank.AUGMENT_CODES``, encoded once and
  cached) for at most BUDGET samples to label and BUDGET labeled samples, as the service does:
  rules 20, 21, 24 and the third signal of ``p_wrong``; without it (the default) no copies.

Then the **effort saved** simulation: a scripted person labels k = 20 per class, runs auto
labeling and reviews the to-be-confirmed list page by page (50 samples a page), confirming the
right labels and correcting the wrong ones; the model is retrained as pages are reviewed, until
every sample is labeled right. Cost model: labeling or correcting one sample is 1 action,
confirming the rest of a page at once (ModelArts' batch confirm) is 1 action; labeling all N
samples by hand is N actions; effort saved = 1 - actions / N. Arms (the order of the pages):

* ``confident``: most confident first, as the service lists them;
* ``random``: random pages (the control arm: same model, same cost model);
* ``hard-first``: highest hard coefficient first, spending corrections where the model is least sure.

Run from the repository root::

    python -m benchmarks.bench_autolabel_quality            # 5 seeds; about 13 min on 2 cores
    python -m benchmarks.bench_autolabel_quality --quick    # 2 seeds, sparser retraining; ~4 min
    python -m benchmarks.bench_autolabel_quality --write-docs docs/autolabel-quality.md

Features come from ``benchmarks.shared_data.cached_features`` (encoded once, then cached).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # scikit-learn's own dependency

from benchmarks.shared_data import cached_copies, cached_features, load_cifar10
from labelarts.ml.calibration import expected_calibration_error
from labelarts.ml.error_rank import AUGMENT_CODES
from labelarts.ml.features.base import available_cpus
from labelarts.ml.image_stats import image_stats
from labelarts.ml.pipeline import auto_label

TARGET_PRECISION = 0.95
PAGE_SIZE = 50
KS = (5, 20)
MODES = ("fast", "accurate")
ARMS = ("confident", "random", "hard-first")


@dataclass(frozen=True)
class Case:
    dataset: str
    model: str
    baseline: tuple[float, float] | None  # linear-probe accuracy (%) at k=5, k=20 from shared/data/README.md
    simulate: bool  # part of the effort-saved simulation

    @property
    def name(self) -> str:
        return f"{self.dataset} / {self.model}"


CASES: tuple[Case, ...] = (
    Case("cifar10", "efficientnet-lite0", None, False),
    Case("cifar10", "efficientnet-lite2", (53.6, 65.6), True),
    Case("agnews", "use-m3", (72.2, 81.6), True),
    Case("agnews", "minilm-l6", (73.1, 81.3), False),
    Case("agnews", "use-m3+minilm-l6", None, False),
    Case("fsdd", "oww-speech-embedding", (96.1, 98.0), True),
    Case("digits", "raw-pixels", (86.0, 93.2), True),
)


@dataclass
class Run:
    accuracy: float
    probe_accuracy: float  # the README's plain probe (logistic regression, C=10, raw features), same draw
    ece: float
    precision: float
    coverage: float
    wrong: float
    flags: dict[str, tuple[float, float, float]]  # rule -> (flagged share, precision, recall)
    seconds: float
    augment_weight: float = float("nan")  # p_wrong's weight of the copies' disagreement, if fitted


@dataclass
class Effort:
    actions: int
    n: int
    pages: int
    corrections: int
    retrains: int
    seconds: float

    @property
    def saved(self) -> float:
        return 1.0 - self.actions / self.n


@dataclass
class Data:
    X: np.ndarray
    y: np.ndarray
    n_classes: int
    stats: np.ndarray | None = None
    copies: dict[int, np.ndarray] | None = None  # reason code -> features of every sample's copy
    copy_budget: int = 0
    runs: dict[tuple[int, str], list[Run]] = field(default_factory=dict)


def _cifar_stats() -> np.ndarray:
    payloads, _, _ = load_cifar10()
    rows = []
    for payload in payloads:
        with Image.open(io.BytesIO(payload)) as image:
            image.load()
            rows.append(image_stats(image, image.size))
    return np.array(rows)


def load_case(case: Case, copy_budget: int = 0) -> Data:
    X, y, class_names = cached_features(case.dataset, case.model)
    stats = _cifar_stats() if case.dataset == "cifar10" else None
    copies = None
    if copy_budget > 0 and case.dataset in ("cifar10", "digits"):
        copies = {
            code: np.asarray(f, dtype=np.float64)
            for code, f in cached_copies(case.dataset, case.model, AUGMENT_CODES).items()
        }
    return Data(
        np.asarray(X, dtype=np.float64),
        np.asarray(y, dtype=np.int64),
        len(class_names),
        stats,
        copies,
        copy_budget if copies is not None else 0,
    )


def _copy_arguments(data: Data, lab: np.ndarray, unl: np.ndarray) -> dict[str, Any]:
    """auto_label's arguments for the perturbed copies of ``data`` (none without copies)."""
    copies = data.copies
    if copies is None:
        return {}
    return {
        "augmented_features": lambda idx: {code: f[unl[idx]] for code, f in copies.items()},
        "augmented_labeled": lambda idx: {code: f[lab[idx]] for code, f in copies.items()},
        "augment_budget": data.copy_budget,
    }


def draw_labeled(y: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k random samples per class (the seed's draw) and the rest."""
    rng = np.random.default_rng(seed)
    labeled = np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c in np.unique(y)])
    return np.sort(labeled), np.setdiff1d(np.arange(y.size), labeled)


def _subset(stats: np.ndarray | None, rows: np.ndarray) -> np.ndarray | None:
    return None if stats is None else stats[rows]


def error_mass_flags(confidence: np.ndarray, recall: float = 0.8) -> np.ndarray:
    """The rule suggested for reason 1: flag the least confident samples until their expected
    number of errors, the sum of ``1 - confidence``, reaches ``recall`` of the expected total."""
    order = np.argsort(confidence, kind="stable")
    expected = np.cumsum(1.0 - confidence[order])
    if expected[-1] <= 0:
        return np.zeros(confidence.size, dtype=bool)
    count = int(np.searchsorted(expected, recall * expected[-1]) + 1)
    flags = np.zeros(confidence.size, dtype=bool)
    flags[order[:count]] = True
    return flags


def _flag_figures(flags: np.ndarray, wrong: np.ndarray) -> tuple[float, float, float]:
    precision = float(wrong[flags].mean()) if flags.any() else float("nan")
    recall = float(flags[wrong].mean()) if wrong.any() else float("nan")
    return float(flags.mean()), precision, recall


def _probe_accuracy(data: Data, lab: np.ndarray, unl: np.ndarray) -> float:
    with threadpool_limits(limits=1, user_api="blas"):
        probe = LogisticRegression(C=10.0, max_iter=2000).fit(data.X[lab], data.y[lab])
        return float(np.mean(probe.predict(data.X[unl]) == data.y[unl]))


def quality_run(data: Data, k: int, mode: str, seed: int) -> Run:
    lab, unl = draw_labeled(data.y, k, seed)
    start = time.perf_counter()
    out = auto_label(
        data.X[lab],
        data.y[lab],
        data.X[unl],
        n_classes=data.n_classes,
        mode=mode,
        target_precision=TARGET_PRECISION,
        stats_labeled=_subset(data.stats, lab),
        stats_unlabeled=_subset(data.stats, unl),
        seed=seed,
        **_copy_arguments(data, lab, unl),
    )
    seconds = time.perf_counter() - start
    correct = out.predicted == data.y[unl]
    wrong = ~correct
    low_confidence = np.array([1 in reasons for reasons in out.hard.reasons], dtype=bool)
    return Run(
        accuracy=float(correct.mean()),
        probe_accuracy=_probe_accuracy(data, lab, unl),
        ece=expected_calibration_error(out.confidence, correct),
        precision=float(correct[out.accepted].mean()) if out.accepted.any() else float("nan"),
        coverage=float(out.accepted.mean()),
        wrong=float(wrong.mean()),
        flags={
            "all": _flag_figures(out.hard.hard, wrong),
            "reason 1": _flag_figures(low_confidence, wrong),
            "error mass 80%": _flag_figures(error_mass_flags(out.confidence), wrong),
        },
        seconds=seconds,
        augment_weight=out.estimates.get("error_augment_weight", float("nan")),
    )


def simulate_effort(
    data: Data, k: int, mode: str, arm: str, seed: int, *, min_pages: int, growth: float
) -> Effort:
    """Actions a scripted person needs for a fully, correctly labeled data set (see the module doc).

    The model is retrained once the pages reviewed since the last training hold at least
    ``min_pages`` pages and ``growth`` times the labeled samples it was trained on (early
    labels change the model most, so training is frequent at first and sparser later).
    """
    start = time.perf_counter()
    rng = np.random.default_rng(10_000 + seed)
    labeled, _ = draw_labeled(data.y, k, seed)
    is_labeled = np.zeros(data.y.size, dtype=bool)
    is_labeled[labeled] = True
    actions = int(labeled.size)  # labeling the first k per class by hand
    pages = corrections = retrains = 0
    while not is_labeled.all():
        lab = np.flatnonzero(is_labeled)
        unl = np.flatnonzero(~is_labeled)
        out = auto_label(
            data.X[lab],
            data.y[lab],
            data.X[unl],
            n_classes=data.n_classes,
            mode=mode,
            target_precision=TARGET_PRECISION,
            stats_labeled=_subset(data.stats, lab),
            stats_unlabeled=_subset(data.stats, unl),
            seed=seed,
            **_copy_arguments(data, lab, unl),
        )
        retrains += 1
        if arm == "confident":
            order = np.argsort(-out.confidence, kind="stable")
        elif arm == "random":
            order = rng.permutation(unl.size)
        elif arm == "hard-first":
            order = np.argsort(-out.hard.coefficient, kind="stable")
        else:
            raise ValueError(f"unknown arm {arm!r}")
        batch = max(min_pages * PAGE_SIZE, int(np.ceil(growth * lab.size / PAGE_SIZE)) * PAGE_SIZE)
        for page_start in range(0, min(unl.size, batch), PAGE_SIZE):
            page = order[page_start : page_start + PAGE_SIZE]
            errors = int(np.sum(out.predicted[page] != data.y[unl[page]]))
            # Correct each wrong label; confirm the right ones in one batch action (if any are right).
            actions += errors + (1 if errors < page.size else 0)
            corrections += errors
            pages += 1
            is_labeled[unl[page]] = True
    return Effort(actions, int(data.y.size), pages, corrections, retrains, time.perf_counter() - start)


def _mean_sd(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    arr = np.asarray(values, dtype=np.float64) * scale
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return "n/a"
    if arr.size == 1:
        return f"{arr[0]:.{digits}f}"
    return f"{arr.mean():.{digits}f} ± {arr.std(ddof=1):.{digits}f}"


def _mean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return float(arr.mean()) if arr.size else float("nan")


def quality_table(results: dict[str, Data], cases: Sequence[Case]) -> str:
    lines = [
        "| data / features | k | mode | accuracy % | probe, same draws % | README probe % | ECE "
        "| precision @95 % | coverage % | s / run |",
        "|---|--:|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for case, k, mode, runs in _each_run(results, cases):
        baseline = f"{case.baseline[KS.index(k)]:.1f}" if case.baseline else "—"
        lines.append(
            f"| {case.name} | {k} | {mode} | {_mean_sd([r.accuracy for r in runs])} "
            f"| {_mean_sd([r.probe_accuracy for r in runs])} | {baseline} "
            f"| {_mean_sd([r.ece for r in runs], 1.0, 3)} | {_mean_sd([r.precision for r in runs])} "
            f"| {_mean_sd([r.coverage for r in runs])} | {_mean([r.seconds for r in runs]):.2f} |"
        )
    return "\n".join(lines)


FLAG_RULES = ("all", "reason 1", "error mass 80%")


def hard_table(results: dict[str, Data], cases: Sequence[Case]) -> str:
    head = " | ".join(f"{rule}: flagged / P / R %" for rule in FLAG_RULES)
    lines = [
        f"| data / features | k | mode | wrong % | {head} |",
        "|---|--:|---|--:|" + "--:|" * len(FLAG_RULES),
    ]
    for case, k, mode, runs in _each_run(results, cases):
        cells = []
        for rule in FLAG_RULES:
            figures = [r.flags[rule] for r in runs]
            flagged, precision, recall = (_mean([f[i] for f in figures]) * 100 for i in range(3))
            cells.append(f"{flagged:.0f} / {precision:.0f} / {recall:.0f}")
        wrong = _mean([r.wrong for r in runs]) * 100
        lines.append(f"| {case.name} | {k} | {mode} | {wrong:.1f} | {' | '.join(cells)} |")
    return "\n".join(lines)


def _each_run(results: dict[str, Data], cases: Sequence[Case]) -> Iterator[tuple[Case, int, str, list[Run]]]:
    for case in cases:
        data = results.get(case.name)
        if data is None:
            continue
        for k in KS:
            for mode in MODES:
                runs = data.runs.get((k, mode), [])
                if runs:
                    yield case, k, mode, runs


def effort_table(efforts: dict[tuple[str, int, str, str], list[Effort]]) -> str:
    lines = [
        "| data / features | k | mode | arm | N | actions | effort saved % | pages | corrections "
        "| retrains | s / run |",
        "|---|--:|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for (name, k, mode, arm), runs in efforts.items():
        lines.append(
            f"| {name} | {k} | {mode} | {arm} | {runs[0].n} | {_mean([r.actions for r in runs]):.0f} "
            f"| {_mean_sd([r.saved for r in runs])} | {_mean([r.pages for r in runs]):.0f} "
            f"| {_mean([r.corrections for r in runs]):.0f} | {_mean([r.retrains for r in runs]):.0f} "
            f"| {_mean([r.seconds for r in runs]):.1f} |"
        )
    return "\n".join(lines)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="2 seeds, 1 simulation seed, sparser retraining")
    parser.add_argument("--seeds", type=int, default=None, help="quality seeds (default 5; quick 2)")
    parser.add_argument("--sim-seeds", type=int, default=None, help="simulation seeds (default 2; quick 1)")
    parser.add_argument("--sim-mode", choices=MODES, default="accurate", help="mode used in the simulation")
    parser.add_argument("--cases", default=None, help="comma-separated data sets (e.g. cifar10,fsdd)")
    parser.add_argument(
        "--models", default=None, help="comma-separated feature models (e.g. use-m3,minilm-l6)"
    )
    parser.add_argument("--ks", default=None, help="comma-separated labeled samples per class (default 5,20)")
    parser.add_argument("--no-simulation", action="store_true", help="skip the effort-saved simulation")
    parser.add_argument(
        "--copies",
        type=int,
        default=0,
        metavar="BUDGET",
        help="pass perturbed copies of the image data sets, for at most BUDGET samples (default 0: none)",
    )
    parser.add_argument("--write-docs", type=Path, default=None, help="also write the results into this file")
    args = parser.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 5)
    sim_seeds = args.sim_seeds or (1 if args.quick else 2)
    # Retrain after at least this many pages and this growth of the labeled set.
    min_pages, growth = (4, 0.5) if args.quick else (1, 0.1)
    wanted = set(args.cases.split(",")) if args.cases else None
    models = set(args.models.split(",")) if args.models else None
    cases = [
        c for c in CASES if (wanted is None or c.dataset in wanted) and (models is None or c.model in models)
    ]
    ks = tuple(int(k) for k in args.ks.split(",")) if args.ks else KS

    started = time.perf_counter()
    results: dict[str, Data] = {}
    for case in cases:
        try:
            data = load_case(case, args.copies)
        except (OSError, ValueError) as error:  # a model or data set that is not installed here
            _log(f"skipping {case.name}: {error}")
            continue
        results[case.name] = data
        for k in ks:
            for mode in MODES:
                runs = [quality_run(data, k, mode, seed) for seed in range(seeds)]
                data.runs[(k, mode)] = runs
                _log(
                    f"{case.name} k={k} {mode}: acc {_mean([r.accuracy for r in runs]):.3f} "
                    f"ece {_mean([r.ece for r in runs]):.3f} prec {_mean([r.precision for r in runs]):.3f} "
                    f"cov {_mean([r.coverage for r in runs]):.3f} ({_mean([r.seconds for r in runs]):.1f} s)"
                    + f" reason 1 R/P {_mean([r.flags['reason 1'][2] for r in runs]):.2f}"
                    + f"/{_mean([r.flags['reason 1'][1] for r in runs]):.2f}"
                    + f" augment weight {_mean([r.augment_weight for r in runs]):.2f}"
                )

    efforts: dict[tuple[str, int, str, str], list[Effort]] = {}
    if not args.no_simulation:
        for case in cases:
            if not case.simulate or case.name not in results:
                continue
            for arm in ARMS:
                key = (case.name, 20, args.sim_mode, arm)
                efforts[key] = [
                    simulate_effort(
                        results[case.name], 20, args.sim_mode, arm, seed, min_pages=min_pages, growth=growth
                    )
                    for seed in range(sim_seeds)
                ]
                _log(f"{case.name} {arm}: saved {_mean([e.saved for e in efforts[key]]):.3f}")
    total = time.perf_counter() - started

    command = " ".join(["python -m benchmarks.bench_autolabel_quality", *(argv or [])])
    header = (
        f"Measured {dt.date.today().isoformat()} on {platform.machine()} ({available_cpus()} CPUs) with "
        f"`{command}`: {seeds} seeds for the quality runs, {sim_seeds} for the simulation (retrained "
        f"once at least {min_pages} page(s) and {growth:.0%} of the labeled set were reviewed); "
        f"{total / 60:.1f} min in all."
    )
    sections = [
        header,
        "### Accuracy, calibration, auto-accept\n\n" + quality_table(results, cases),
        "### Hard-example flags against the wrong auto labels\n\n" + hard_table(results, cases),
    ]
    if efforts:
        sections.append("### Effort saved\n\n" + effort_table(efforts))
    report = "\n\n".join(sections)
    print(report)
    if args.write_docs is not None:
        write_results(args.write_docs, report)
    return 0


START, END = "<!-- results:start -->", "<!-- results:end -->"


def write_results(path: Path, report: str) -> None:
    """Put ``report`` between the results markers of ``path`` (the prose around it stays)."""
    text = path.read_text() if path.exists() else f"# Auto labeling quality\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text = f"{text.rstrip()}\n\n{START}\n{END}\n"
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    path.write_text(f"{before}{START}\n{report}\n{END}{after}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
