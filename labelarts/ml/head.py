"""The calibrated classification head that auto labeling trains on pretrained features.

``fast`` mode learns from the labeled samples only; ``accurate`` mode also uses the unlabeled
samples (label spreading over a kNN graph of all samples).

Steps, both modes:

1. Scale: centre every feature on the mean of the labeled and unlabeled samples together and
   divide by a spread (:data:`SCALINGS`). The unlabeled samples are the data to be labeled,
   so their statistics are fair to use, and they keep the estimate stable when only a
   handful of samples are labeled.
2. Multinomial logistic regression (L2) on the labeled samples: logits ``a(x)``. The scaling
   and ``C`` (:data:`C_GRID`) are chosen by out-of-fold log-likelihood. ``accurate`` mode adds
   label spreading over a kNN graph of all samples, seeded with the labeled ones
   (:class:`labelarts.ml.semi.SpreadingGraph`): scores ``s(x)``.
3. Calibration: stratified ``n_folds``-fold cross-validation on the labeled samples (with 5
   labeled per class, that is leave-one-per-class-out) gives out-of-fold scores, each fold
   treating its held-out samples as unlabeled. The reported logits are ``w_a * a(x)`` in
   ``fast`` mode (``w_a = 1 / temperature``) and ``w_a * a(x) + w_s * log(s(x) + 1e-4)`` in
   ``accurate`` mode, with the non-negative weights that minimise the negative
   log-likelihood of the out-of-fold scores (temperature scaling of two sources at once;
   ``w_s = 0`` would fall back to ``fast``). The models used afterwards are the averages of
   the fold models, the very ones the calibration was fitted on.
4. Auto-accept thresholds (:meth:`CalibratedHead.thresholds`) from the calibrated confidences
   of the samples to be labeled (:func:`labelarts.ml.calibration.precision_thresholds`).

Score contract: :meth:`CalibratedHead.predict_proba` rows sum to 1; the top score of a row is
the estimated probability that the top class is right.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.special import log_softmax, softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from labelarts.ml.calibration import fit_logit_weights, fit_temperature, precision_thresholds
from labelarts.ml.semi import SpreadingGraph

__all__ = [
    "C_GRID",
    "MODES",
    "SCALINGS",
    "SPREADING_MAX_UNLABELED",
    "CalibratedHead",
    "check_feature_rows",
    "check_features",
    "check_labels",
    "row_batches",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

MODES = ("fast", "accurate")
Mode = Literal["fast", "accurate"]

SCALINGS = ("per-feature", "isotropic")
"""Feature scalings the head chooses from (both centre every feature first):
``per-feature`` divides each feature by ``sqrt(std_j^2 + 0.5 * s^2)``, its own standard
deviation shrunk toward the typical one ``s`` (the root mean square of all ``std_j``) so that
nearly constant features, like the borders of raw pixel images, are not blown up into noise;
``isotropic`` divides every feature by ``s``, keeping the encoder's own geometry (better for
L2-normalised sentence embeddings)."""
C_GRID = (0.01, 0.1, 1.0)
"""Inverse L2 regularisation strengths the head chooses from."""
_SPREAD_SHRINKAGE = 0.5
SPREADING_MAX_UNLABELED = 50_000
"""Accurate mode builds its kNN graph over the labeled samples and at most this many unlabeled
ones (a fixed random subset when there are more); the others get their spread scores through
their nearest graph nodes (:meth:`SpreadingGraph.extend`). Up to this size nothing changes; past
it, the neighbour search stays within minutes instead of growing with the square of the dataset."""
_BATCH_BYTES = 64 << 20
"""Work on the unlabeled samples goes in row batches of about this many bytes of float64."""


def row_batches(n_rows: int, n_features: int) -> Iterator[slice]:
    """Slices of ``range(n_rows)`` covering it in order, each about ``_BATCH_BYTES`` of float64
    features (at least 1,024 rows): what the batched steps work on at a time."""
    size = max(1024, _BATCH_BYTES // max(1, 8 * n_features))
    for start in range(0, n_rows, size):
        yield slice(start, min(n_rows, start + size))


def check_features(X: np.ndarray, name: str, *, n_features: int | None = None) -> FloatArray:
    """``X`` as a finite float64 ``(n, d)`` array, or ValueError naming the problem."""
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (samples x features), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    out = arr.astype(np.float64, copy=False)
    if n_features is not None and out.shape[1] != n_features:
        raise ValueError(f"{name} has {out.shape[1]} features per sample, expected {n_features}")
    finite = np.isfinite(out).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise ValueError(
            f"{name} has {bad.size} rows with NaN or infinite values (first at row {int(bad[0])}); "
            "remove or re-encode those samples"
        )
    return out


def check_feature_rows(X: np.ndarray, name: str, *, n_features: int | None = None) -> NDArray[np.floating]:
    """Like :func:`check_features`, but a float32 or float64 array (an ndarray or a memmap) is
    returned as it is, without a copy, its finiteness checked batch by batch: the large matrix
    of samples to be labeled is never converted as a whole."""
    arr = np.asarray(X)
    if arr.dtype not in (np.float32, np.float64):
        return check_features(arr, name, n_features=n_features)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (samples x features), got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features per sample, expected {n_features}")
    bad = 0
    first = -1
    for rows in row_batches(arr.shape[0], arr.shape[1]):
        finite = np.isfinite(arr[rows]).all(axis=1)
        if not finite.all():
            if first < 0:
                first = rows.start + int(np.flatnonzero(~finite)[0])
            bad += int((~finite).sum())
    if bad:
        raise ValueError(
            f"{name} has {bad} rows with NaN or infinite values (first at row {first}); "
            "remove or re-encode those samples"
        )
    return arr


def check_labels(y: np.ndarray, n_samples: int, n_classes: int) -> IntArray:
    """``y`` as int64 class indices in ``[0, n_classes)``, one per sample, or ValueError."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n_samples:
        raise ValueError(
            f"y must be a 1-d array with one label per sample ({n_samples}), got shape {arr.shape}"
        )
    whole = np.issubdtype(arr.dtype, np.integer) or (
        np.issubdtype(arr.dtype, np.floating) and bool(np.all(np.equal(np.mod(arr, 1), 0)))
    )
    if arr.size and not whole:
        raise ValueError(f"y must hold integer class indices, got dtype {arr.dtype}")
    labels = arr.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"y must hold class indices within [0, {n_classes}), got {labels.min()}..{labels.max()}"
        )
    return labels


@dataclass
class _Linear:
    """A multinomial linear model over the classes ``seen``: logits ``Z @ coef.T + intercept``."""

    coef: FloatArray
    intercept: FloatArray
    seen: IntArray

    @classmethod
    def average(cls, models: list[LogisticRegression]) -> _Linear:
        return cls(
            coef=np.mean([m.coef_ for m in models], axis=0),
            intercept=np.mean([m.intercept_ for m in models], axis=0),
            seen=np.asarray(models[0].classes_, dtype=np.int64),
        )

    def logits(self, Z: FloatArray, n_classes: int) -> FloatArray:
        """Logits over all ``n_classes``; classes the model never saw get -inf (probability 0)."""
        raw = Z @ self.coef.T + self.intercept
        if self.coef.shape[0] == 1:  # two classes: one logit, for the second class
            raw = np.column_stack([-raw[:, 0] / 2.0, raw[:, 0] / 2.0])
        out = np.full((Z.shape[0], n_classes), -np.inf)
        out[:, self.seen] = raw
        return out


class CalibratedHead:
    """Logistic regression (plus label spreading in ``accurate`` mode) with cross-validated calibration.

    The scaling (:data:`SCALINGS`) and regularisation (:data:`C_GRID`) are chosen by the
    out-of-fold negative log-likelihood after temperature scaling. The final linear model is
    the average of the fold models (the same for the spread scores), so the calibration fitted on
    their out-of-fold scores describes the model that is used; refitting on all labeled samples
    would give a sharper model than the one calibrated.
    """

    def __init__(
        self,
        *,
        C_grid: tuple[float, ...] = C_GRID,
        scalings: tuple[str, ...] = SCALINGS,
        n_folds: int = 5,
        n_neighbors: int = 10,
        spreading_alpha: float = 0.9,
        threshold_prior: float = 20.0,
        max_iter: int = 300,
    ) -> None:
        if not C_grid or min(C_grid) <= 0:
            raise ValueError(f"C_grid must hold positive values, got {C_grid}")
        if not scalings or any(s not in SCALINGS for s in scalings):
            raise ValueError(f"scalings must be a non-empty subset of {SCALINGS}, got {scalings}")
        if n_folds < 2:
            raise ValueError(f"n_folds must be at least 2, got {n_folds}")
        self.C_grid = C_grid
        self.scalings = scalings
        self.n_folds = n_folds
        self.n_neighbors = n_neighbors
        self.spreading_alpha = spreading_alpha
        self.threshold_prior = threshold_prior
        self.max_iter = max_iter
        # Set by fit.
        self.n_classes_ = 0
        self.mode_: Mode = "fast"
        self.C_ = float("nan")
        self.scaling_ = ""
        self.weights_: FloatArray = np.ones(1)
        self.cv_accuracy_ = float("nan")
        self.n_pseudo_labels_ = 0
        self.unlabeled_proba_: FloatArray = np.zeros((0, 0))
        """Calibrated probabilities of the ``X_unlabeled`` given to fit (what predict_proba gives)."""
        self.oof_proba_: FloatArray = np.zeros((0, 0))
        """Calibrated out-of-fold probabilities of the labeled ``X`` given to fit: each row from the
        fold model that did not train on that sample (what label-error detection needs)."""
        self._mean: FloatArray | None = None
        self._scale: FloatArray | None = None
        self._linear: _Linear | None = None
        self._fold_linear: list[_Linear] = []
        self._fold_of: IntArray = np.zeros(0, dtype=np.int64)
        self._fold_node_scores: list[FloatArray] = []
        self._graph: SpreadingGraph | None = None
        self._node_scores: FloatArray | None = None
        self._pool_confidence: FloatArray = np.zeros(0)
        self._pool_predicted: IntArray = np.zeros(0, dtype=np.int64)

    @property
    def temperature_(self) -> float:
        """The temperature of the logistic-regression logits (``1 / w_a``)."""
        w = float(self.weights_[0])
        return 1.0 / w if w > 0 else float("inf")

    # -- fitting ---------------------------------------------------------------------------

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        n_classes: int,
        X_unlabeled: np.ndarray | None = None,
        mode: str = "fast",
        seed: int = 0,
        progress: Callable[[float], None] | None = None,
    ) -> CalibratedHead:
        """Train on the labeled ``X, y`` (class indices in ``[0, n_classes)``).

        ``X_unlabeled`` (the samples to be labeled) feeds the scaling statistics and the
        thresholds in both modes, and the training itself in ``accurate`` mode (required there).
        Classes with no labeled sample get probability 0. ``progress(fraction)`` is called as
        the cross-validation goes. Raises ValueError on bad input: fewer than two classes
        labeled, a class with a single labeled sample, NaN rows, mismatched shapes, an unknown mode.
        """
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}")
        X_lab = check_features(X, "X")
        labels = check_labels(y, X_lab.shape[0], n_classes)
        X_unl = (
            check_feature_rows(X_unlabeled, "X_unlabeled", n_features=X_lab.shape[1])
            if X_unlabeled is not None
            else np.zeros((0, X_lab.shape[1]))
        )
        n_unl = X_unl.shape[0]
        if mode == "accurate" and n_unl == 0:
            raise ValueError("accurate mode needs unlabeled samples (X_unlabeled)")
        present, counts = np.unique(labels, return_counts=True)
        if present.size < 2:
            raise ValueError(f"need labeled samples of at least two classes, got {present.size}")
        if counts.min() < 2:
            lonely = [int(c) for c in present[counts < 2]]
            raise ValueError(f"each labeled class needs at least two samples; classes {lonely} have one")

        self.n_classes_ = n_classes
        self.mode_ = "accurate" if mode == "accurate" else "fast"
        n_lab = X_lab.shape[0]
        n_folds = int(min(self.n_folds, counts.min()))
        folds = list(StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(X_lab, labels))
        steps = len(self.scalings) * len(self.C_grid) * n_folds + (n_folds if self.mode_ == "accurate" else 0)
        done = 0

        def step() -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(done / (steps + 1))

        # Scaling statistics from labeled and unlabeled samples together.
        mean, spread = _mean_std(X_lab, X_unl)
        typical = float(np.sqrt(np.mean(spread**2)))
        typical = typical if typical > 0 else 1.0
        scales = {
            "per-feature": np.sqrt(spread**2 + _SPREAD_SHRINKAGE * typical**2),
            "isotropic": np.full_like(spread, typical),
        }

        # Choose scaling and C by out-of-fold NLL after temperature scaling.
        best: tuple[float, str, float, FloatArray, list[LogisticRegression]] | None = None
        for scaling in self.scalings:
            Z_lab = (X_lab - mean) / scales[scaling]
            for C in self.C_grid:
                candidate = np.zeros((n_lab, n_classes))
                models = []
                for train, held in folds:
                    model = self._train(Z_lab[train], labels[train], C)
                    models.append(model)
                    candidate[held] = _Linear.average([model]).logits(Z_lab[held], n_classes)
                    step()
                nll = _nll(candidate / fit_temperature(candidate, labels), labels)
                if best is None or nll < best[0] - 1e-9:
                    best = (nll, scaling, C, candidate, models)
        assert best is not None
        _, self.scaling_, self.C_, oof_linear, fold_models = best
        self._mean, self._scale = mean, scales[self.scaling_]
        self._linear = _Linear.average(fold_models)
        # Kept for out-of-fold predictions on other rows of a labeled sample (oof_predict_proba).
        self._fold_linear = [_Linear.average([m]) for m in fold_models]
        self._fold_of = np.empty(n_lab, dtype=np.int64)
        for f, (_, held) in enumerate(folds):
            self._fold_of[held] = f
        self._fold_node_scores = []
        Z_lab = self._scaled(X_lab)

        oof: list[FloatArray] = [oof_linear]
        self._graph = self._node_scores = None
        # Graph node of each unlabeled sample (-1: not a node, see SPREADING_MAX_UNLABELED).
        node_of = np.full(n_unl, -1, dtype=np.int64)
        if self.mode_ == "accurate":
            in_graph = _spreading_subset(n_unl, seed)
            node_of[in_graph] = n_lab + np.arange(in_graph.size)
            Z_graph = self._scaled(X_unl if in_graph.size == n_unl else X_unl[in_graph])
            with threadpool_limits(limits=1, user_api="blas"):
                graph = SpreadingGraph(np.vstack([Z_lab, Z_graph]), n_neighbors=self.n_neighbors, seed=seed)
            del Z_graph
            oof_spread = np.zeros((n_lab, n_classes))
            fold_scores = []
            for train, held in folds:
                node_scores = graph.spread(
                    train, labels[train], n_classes=n_classes, alpha=self.spreading_alpha
                )
                fold_scores.append(node_scores)
                oof_spread[held] = _log_scores(graph.extend_nodes(node_scores, held))
                step()
            oof.append(oof_spread)
            self._graph = graph
            self._fold_node_scores = fold_scores
            self._node_scores = np.mean(fold_scores, axis=0)
            self.n_pseudo_labels_ = int(in_graph.size)
        self.weights_ = fit_logit_weights(oof, labels)
        combined = _combine(self.weights_, oof)
        self.oof_proba_ = np.asarray(softmax(combined, axis=1), dtype=np.float64)
        self.cv_accuracy_ = float(np.mean(combined.argmax(axis=1) == labels))

        # The pool the thresholds are estimated on: the samples to be labeled (or, without them,
        # the out-of-fold predictions).
        if n_unl:
            self.unlabeled_proba_ = np.empty((n_unl, n_classes))
            for rows in row_batches(n_unl, X_lab.shape[1]):
                self.unlabeled_proba_[rows] = softmax(
                    self._unlabeled_logits(self._scaled(X_unl[rows]), node_of[rows]), axis=1
                )
            pool = self.unlabeled_proba_
        else:
            self.unlabeled_proba_ = np.zeros((0, n_classes))
            pool = softmax(combined, axis=1)
        self._pool_predicted = pool.argmax(axis=1).astype(np.int64)
        self._pool_confidence = pool.max(axis=1)
        if progress is not None:
            progress(1.0)
        return self

    def _scaled(self, X: NDArray[np.floating]) -> FloatArray:
        """Scaled features, float64 (a float32 input is widened exactly, row by row)."""
        assert self._mean is not None and self._scale is not None
        return np.asarray((X - self._mean) / self._scale, dtype=np.float64)

    def _unlabeled_logits(self, Z: FloatArray, nodes: IntArray) -> FloatArray:
        """Calibrated logits of unlabeled rows ``Z``; ``nodes``: each row's graph node, or -1."""
        is_node = nodes >= 0
        if self._graph is None or is_node.all():
            return self._combined_logits(Z, nodes=nodes if self._graph is not None else None)
        out = np.empty((Z.shape[0], self.n_classes_))
        if is_node.any():
            out[is_node] = self._combined_logits(Z[is_node], nodes=nodes[is_node])
        out[~is_node] = self._combined_logits(Z[~is_node])
        return out

    def _train(
        self, Z: FloatArray, labels: IntArray, C: float, sample_weight: FloatArray | None = None
    ) -> LogisticRegression:
        model = LogisticRegression(C=C, max_iter=self.max_iter)
        # One BLAS thread: these are small problems, and on a busy machine multi-threaded BLAS makes
        # them 10-20x slower (threads spinning for cores other work holds).
        with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
            # Stopping at max_iter still gives a usable model; the temperature absorbs its scale.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(Z, labels, sample_weight=sample_weight)
        return model

    def _combined_logits(self, Z: FloatArray, nodes: IntArray | None = None) -> FloatArray:
        """Calibrated logits of the rows ``Z``; ``nodes``: their graph node indices, when they are nodes."""
        assert self._linear is not None
        blocks = [self._linear.logits(Z, self.n_classes_)]
        if self._graph is not None:
            assert self._node_scores is not None
            if nodes is not None:
                extended = self._graph.extend_nodes(self._node_scores, nodes)
            else:
                extended = self._graph.extend(self._node_scores, Z)
            blocks.append(_log_scores(extended))
        return _combine(self.weights_, blocks)

    # -- predicting ------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if self._linear is None or self._mean is None:
            raise RuntimeError("CalibratedHead is not fitted; call fit first")

    def decision_function(self, X: np.ndarray) -> FloatArray:
        """Calibrated logits ``(n, n_classes)`` (softmax of them is :meth:`predict_proba`)."""
        self._check_fitted()
        assert self._mean is not None
        return self._combined_logits(self._scaled(check_features(X, "X", n_features=self._mean.shape[0])))

    def predict_proba(self, X: np.ndarray) -> FloatArray:
        """Calibrated class probabilities ``(n, n_classes)``; rows sum to 1."""
        return np.asarray(softmax(self.decision_function(X), axis=1), dtype=np.float64)

    def oof_predict_proba(self, X: np.ndarray, rows: np.ndarray) -> FloatArray:
        """Calibrated probabilities ``(n, n_classes)`` of ``X`` (say, perturbed copies of labeled
        samples), row ``i`` from the fold model that did not train on labeled sample ``rows[i]``
        (an index into the ``X`` given to fit): out-of-fold, as :attr:`oof_proba_` is."""
        self._check_fitted()
        assert self._mean is not None
        rows = np.asarray(rows)
        n_lab = self._fold_of.size
        if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
            raise ValueError("rows must be a 1-D array of labeled sample indices")
        if rows.size and (rows.min() < 0 or rows.max() >= n_lab):
            raise ValueError(f"rows must be within [0, {n_lab})")
        if rows.size == 0:
            return np.zeros((0, self.n_classes_))
        Z = self._scaled(check_features(X, "X", n_features=self._mean.shape[0]))
        if Z.shape[0] != rows.size:
            raise ValueError(f"X has {Z.shape[0]} rows but rows names {rows.size}")
        logits = np.empty((rows.size, self.n_classes_))
        fold = self._fold_of[rows]
        for f, linear in enumerate(self._fold_linear):
            mine = fold == f
            if not mine.any():
                continue
            blocks = [linear.logits(Z[mine], self.n_classes_)]
            if self._graph is not None:
                blocks.append(_log_scores(self._graph.extend(self._fold_node_scores[f], Z[mine])))
            logits[mine] = _combine(self.weights_, blocks)
        return np.asarray(softmax(logits, axis=1), dtype=np.float64)

    def thresholds(self, target_precision: float) -> FloatArray:
        """Per-class auto-accept thresholds ``(n_classes,)`` for ``target_precision``
        (estimator: :func:`labelarts.ml.calibration.precision_thresholds`)."""
        self._check_fitted()
        return precision_thresholds(
            self._pool_confidence,
            self._pool_predicted,
            n_classes=self.n_classes_,
            target_precision=target_precision,
            prior_strength=self.threshold_prior,
        )


def _mean_std(X_lab: FloatArray, X_unl: NDArray[np.floating]) -> tuple[FloatArray, FloatArray]:
    """Per-feature mean and standard deviation of the labeled and unlabeled rows together.

    When the unlabeled rows fit in one batch this is ``np.vstack(...).mean/std`` exactly as
    before; otherwise two passes over batches (float64 sums), so no float64 copy of the whole
    matrix is made.
    """
    batches = list(row_batches(X_unl.shape[0], X_lab.shape[1]))
    if len(batches) <= 1:
        X_all = np.vstack([X_lab, np.asarray(X_unl, dtype=np.float64)])
        return X_all.mean(axis=0), X_all.std(axis=0)
    n = X_lab.shape[0] + X_unl.shape[0]
    total = X_lab.sum(axis=0)
    for rows in batches:
        total += X_unl[rows].sum(axis=0, dtype=np.float64)
    mean = total / n
    squares = ((X_lab - mean) ** 2).sum(axis=0)
    for rows in batches:
        squares += ((np.asarray(X_unl[rows], dtype=np.float64) - mean) ** 2).sum(axis=0)
    return mean, np.sqrt(squares / n)


def _spreading_subset(n_unl: int, seed: int) -> IntArray:
    """Indices of the unlabeled samples that become graph nodes: all of them up to
    SPREADING_MAX_UNLABELED, else a sorted random subset of that size (fixed by ``seed``)."""
    if n_unl <= SPREADING_MAX_UNLABELED:
        return np.arange(n_unl, dtype=np.int64)
    chosen = np.random.default_rng(seed).choice(n_unl, size=SPREADING_MAX_UNLABELED, replace=False)
    return np.sort(chosen).astype(np.int64)


def _nll(logits: FloatArray, labels: IntArray) -> float:
    return float(-log_softmax(logits, axis=1)[np.arange(labels.size), labels].mean())


# Floor for spread scores before the log: a class no label mass reached is unlikely, not impossible.
_SCORE_FLOOR = 1e-4


def _log_scores(scores: FloatArray) -> FloatArray:
    return np.log(scores + _SCORE_FLOOR)


def _combine(weights: FloatArray, blocks: list[FloatArray]) -> FloatArray:
    """``sum_i w_i * blocks[i]``, keeping -inf (a class no model can predict) as -inf."""
    out = np.zeros_like(blocks[0])
    ruled_out = np.zeros(blocks[0].shape, dtype=bool)
    for w, block in zip(weights, blocks, strict=True):
        ruled_out |= np.isneginf(block)
        out += w * np.where(np.isneginf(block), 0.0, block)
    out[ruled_out] = -np.inf
    return out
