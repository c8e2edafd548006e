"""Auto labeling from end to end: the one function the service's task and the quality benchmark run.

Arrays in, arrays out: features of the labeled and unlabeled samples (and, for images, their
statistics and a way to get features of perturbed copies) go in; predictions with calibrated
confidence, auto-accept flags and hard-example verdicts come out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from labelarts.ml.error_rank import estimate_p_wrong
from labelarts.ml.hard import HardExampleDetector, HardExamples
from labelarts.ml.head import MODES, CalibratedHead, check_feature_rows, check_features, check_labels
from labelarts.ml.label_errors import LabelErrors, find_label_errors

__all__ = ["AutoLabelOutcome", "auto_label", "check_human_labels"]

# Share of the progress bar each stage takes (the head's cross-validated fit dominates).
_FIT_SHARE = 0.8
_AUGMENT_SHARE = 0.1


@dataclass
class AutoLabelOutcome:
    """What auto labeling says about each of the ``n_u`` unlabeled samples.

    ``predicted``: class index (n_u,). ``confidence``: calibrated probability that ``predicted`` is
    right, in [0, 1]. ``proba``: calibrated (n_u, C). ``accepted``: ``confidence >=
    thresholds[predicted]``, the labels expected to meet the target precision. ``thresholds``:
    per-class auto-accept thresholds (C,). ``hard``: hard-example verdicts. ``estimates``:
    figures about the fit: ``cv_accuracy`` (out-of-fold accuracy on the labeled samples), ``C``,
    ``linear_weight`` and ``spreading_weight`` (the calibrated weights of the logistic-regression
    logits and of the log spread scores; the latter 0 in fast mode), ``n_pseudo_labels``
    (unlabeled samples the accurate mode learned from), ``expected_accuracy`` (mean confidence),
    ``coverage`` (share accepted), ``n_augmented_checked``; ``temperature`` (``1 /
    linear_weight``) when that weight is positive, and ``expected_precision_accepted`` (mean
    confidence of the accepted ones) when any label was accepted. Every value is finite.
    ``oof_proba``: calibrated out-of-fold probabilities (n_labeled, C) of the labeled samples,
    each row from the fold model that did not train on that sample
    (:func:`labelarts.ml.label_errors.find_label_errors` takes them). ``p_wrong``: (n_u,) the
    estimated probability that each auto label is wrong (:mod:`labelarts.ml.error_rank`), which
    hard reason 1 flags by; ``estimates`` also gives ``expected_wrong`` (its sum) and the weights
    of its two signals, and ``error_augment_weight`` and ``n_augment_signal`` when the third
    (disagreement under augmentation) was fitted.
    """

    predicted: NDArray[np.int64]
    confidence: NDArray[np.float64]
    proba: NDArray[np.float64]
    accepted: NDArray[np.bool_]
    thresholds: NDArray[np.float64]
    hard: HardExamples
    estimates: dict[str, float]
    oof_proba: NDArray[np.float64]
    p_wrong: NDArray[np.float64]


def auto_label(
    X_labeled: np.ndarray,
    y_labeled: np.ndarray,
    X_unlabeled: np.ndarray,
    *,
    n_classes: int,
    mode: str = "fast",
    target_precision: float = 0.95,
    stats_labeled: np.ndarray | None = None,
    stats_unlabeled: np.ndarray | None = None,
    augmented_features: Callable[[np.ndarray], Mapping[int, np.ndarray]] | None = None,
    augmented_labeled: Callable[[np.ndarray], Mapping[int, np.ndarray]] | None = None,
    augment_budget: int = 2000,
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> AutoLabelOutcome:
    """Label ``X_unlabeled`` from the labeled ``X_labeled, y_labeled`` (class indices in ``[0, n_classes)``).

    ``mode``: ``"fast"`` learns from the labeled samples only, ``"accurate"`` from the unlabeled
    ones too. ``target_precision`` in (0, 1): the share of auto-accepted labels that should be
    right. ``stats_*``: image statistics (n, 6) for hard-example rules 5-10. ``augmented_features``:
    given indices into ``X_unlabeled``, features of perturbed copies per reason code (19-29); at most
    ``augment_budget`` samples are checked, the least certain (smallest margin between the top two
    classes) first. ``augmented_labeled``: the same for indices into ``X_labeled``; with both,
    the copies (of :data:`labelarts.ml.error_rank.AUGMENT_CODES`) also give ``p_wrong`` its third
    signal, fitted on at most ``augment_budget`` labeled samples (a random choice) whose copies
    the fold models predict out-of-fold: at most twice ``augment_budget`` samples are perturbed
    in all. ``progress(fraction)`` is called now and then; an exception it raises stops the
    run and propagates. Bad input raises ValueError.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not 0.0 < target_precision < 1.0:
        raise ValueError(f"target_precision must be within (0, 1), got {target_precision}")
    if augment_budget < 0:
        raise ValueError(f"augment_budget must not be negative, got {augment_budget}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be at least 2, got {n_classes}")
    X_lab = check_features(X_labeled, "X_labeled")
    # The samples to be labeled may be many (a float32 memmap, say): checked and used batch by
    # batch, never copied whole.
    X_unl = check_feature_rows(X_unlabeled, "X_unlabeled", n_features=X_lab.shape[1])
    labels = check_labels(y_labeled, X_lab.shape[0], n_classes)
    if X_unl.shape[0] == 0:
        raise ValueError("X_unlabeled has no samples: there is nothing to label")
    for name, stats, n in (
        ("stats_labeled", stats_labeled, X_lab.shape[0]),
        ("stats_unlabeled", stats_unlabeled, X_unl.shape[0]),
    ):
        if stats is not None and (np.ndim(stats) != 2 or np.shape(stats)[0] != n):
            raise ValueError(f"{name} must have one row per sample ({n}), got shape {np.shape(stats)}")

    def report(fraction: float) -> None:
        if progress is not None:
            progress(min(1.0, max(0.0, fraction)))

    report(0.0)
    head = CalibratedHead().fit(
        X_lab,
        labels,
        n_classes=n_classes,
        X_unlabeled=X_unl,
        mode=mode,
        seed=seed,
        progress=lambda f: report(_FIT_SHARE * f),
    )
    proba = head.unlabeled_proba_
    thresholds = head.thresholds(target_precision)
    predicted = proba.argmax(axis=1).astype(np.int64)
    confidence = proba[np.arange(proba.shape[0]), predicted]
    accepted = confidence >= thresholds[predicted]
    report(_FIT_SHARE)

    augmented = None
    copies_unlabeled: dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
    copies_labeled: dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
    if augmented_features is not None and augment_budget > 0:
        copies_unlabeled = _augmented_proba(head, proba, augmented_features, augment_budget, X_lab.shape[1])
        augmented = {
            code: (rows, copy_proba.argmax(axis=1).astype(np.int64))
            for code, (rows, copy_proba) in copies_unlabeled.items()
        }
        if augmented_labeled is not None:
            copies_labeled = _labeled_copy_proba(
                head, augmented_labeled, augment_budget, X_lab.shape[1], seed
            )
    report(_FIT_SHARE + _AUGMENT_SHARE)

    detector = HardExampleDetector().fit(
        X_lab,
        labels,
        n_classes=n_classes,
        stats_train=stats_labeled if stats_unlabeled is not None else None,
    )
    errors = estimate_p_wrong(
        X_lab,
        labels,
        head.oof_proba_,
        X_unl,
        proba,
        copies_labeled=copies_labeled if copies_labeled else None,
        copies_unlabeled=copies_unlabeled if copies_labeled else None,
        seed=seed,
    )
    hard = detector.detect(
        X_unl,
        proba,
        thresholds=thresholds,
        stats=stats_unlabeled if stats_labeled is not None else None,
        augmented=augmented,
        p_wrong=errors.p_wrong,
    )
    report(1.0)

    estimates = {
        "cv_accuracy": head.cv_accuracy_,
        "C": head.C_,
        "linear_weight": float(head.weights_[0]),
        "spreading_weight": float(head.weights_[1]) if head.weights_.size > 1 else 0.0,
        "n_pseudo_labels": float(head.n_pseudo_labels_),
        "expected_accuracy": float(confidence.mean()),
        "coverage": float(accepted.mean()),
        "n_augmented_checked": float(next(iter(augmented.values()))[0].size) if augmented else 0.0,
        "expected_wrong": float(errors.p_wrong.sum()),
        "error_confidence_weight": errors.weights[1],
        "error_neighbour_weight": errors.weights[2],
    }
    if errors.augment_weights is not None:
        estimates["error_augment_weight"] = errors.augment_weights[3]
        estimates["n_augment_signal"] = float(np.isfinite(errors.augment_agreement).sum())
    if head.weights_[0] > 0:  # 0 when the labeled samples showed the linear model adds nothing
        estimates["temperature"] = head.temperature_
    if accepted.any():
        estimates["expected_precision_accepted"] = float(confidence[accepted].mean())
    return AutoLabelOutcome(
        predicted=predicted,
        confidence=confidence,
        proba=proba,
        accepted=accepted,
        thresholds=thresholds,
        hard=hard,
        estimates=estimates,
        oof_proba=head.oof_proba_,
        p_wrong=errors.p_wrong,
    )


def check_human_labels(
    X_labeled: np.ndarray,
    y_labeled: np.ndarray,
    *,
    n_classes: int,
    X_unlabeled: np.ndarray | None = None,
    mode: str = "fast",
    seed: int = 0,
    progress: Callable[[float], None] | None = None,
) -> LabelErrors:
    """Probably wrong labels among ``y_labeled``, when there is nothing to auto-label (with
    samples to label, :func:`auto_label`'s ``oof_proba`` gives the same without a second fit):
    the calibrated head's out-of-fold probabilities, then confident learning
    (:func:`labelarts.ml.label_errors.find_label_errors`). ``accurate`` mode needs ``X_unlabeled``."""
    X_lab = check_features(X_labeled, "X_labeled")
    labels = check_labels(y_labeled, X_lab.shape[0], n_classes)
    head = CalibratedHead().fit(
        X_lab,
        labels,
        n_classes=n_classes,
        X_unlabeled=X_unlabeled,
        mode=mode,
        seed=seed,
        progress=progress,
    )
    return find_label_errors(head.oof_proba_, labels, n_classes=n_classes)


def _augmented_proba(
    head: CalibratedHead,
    proba: NDArray[np.float64],
    augmented_features: Callable[[np.ndarray], Mapping[int, np.ndarray]],
    budget: int,
    n_features: int,
) -> dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]]:
    """Calibrated probabilities of each perturbed copy of the least certain ``budget`` samples,
    per reason code."""
    top_two = np.sort(proba, axis=1)[:, -2:]
    margin = top_two[:, 1] - top_two[:, 0]
    # Stable sort with the index as tie-breaker keeps the choice deterministic.
    chosen = np.sort(np.argsort(margin, kind="stable")[:budget]).astype(np.int64)
    return {
        code: (rows, head.predict_proba(feats))
        for code, (rows, feats) in _checked_copies(augmented_features(chosen), chosen, n_features).items()
    }


def _labeled_copy_proba(
    head: CalibratedHead,
    augmented_labeled: Callable[[np.ndarray], Mapping[int, np.ndarray]],
    budget: int,
    n_features: int,
    seed: int,
) -> dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]]:
    """Out-of-fold probabilities of the perturbed copies of at most ``budget`` labeled samples
    (a random choice: the fit needs right and wrong answers alike, not the least certain)."""
    n_lab = head.oof_proba_.shape[0]
    chosen = np.arange(n_lab, dtype=np.int64)
    if n_lab > budget:
        chosen = np.sort(np.random.default_rng(seed).choice(n_lab, budget, replace=False)).astype(np.int64)
    return {
        code: (rows, head.oof_predict_proba(feats, rows))
        for code, (rows, feats) in _checked_copies(augmented_labeled(chosen), chosen, n_features).items()
    }


def _checked_copies(
    features: Mapping[int, np.ndarray], chosen: NDArray[np.int64], n_features: int
) -> dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]]:
    """The copies' features per reason code, checked, without the rows that could not be encoded."""
    out: dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
    for code, feats in features.items():
        arr = np.asarray(feats, dtype=np.float64)
        if arr.ndim != 2 or arr.shape != (chosen.size, n_features):
            raise ValueError(
                f"augmented features for code {code} must have shape ({chosen.size}, {n_features}), "
                f"got {arr.shape}"
            )
        # A copy that could not be encoded (NaN row) is not checked, rather than failing the task.
        ok = np.isfinite(arr).all(axis=1)
        out[int(code)] = (chosen[ok], arr[ok])
    return out
