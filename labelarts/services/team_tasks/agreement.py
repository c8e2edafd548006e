"""Agreement between a team task's labelers, and their accuracy on gold samples (a LabelArts
extension, docs/team-labeling.md "Agreement and gold samples"). Pure: results in, figures out.

The scores come from maintained libraries: Cohen's kappa per labeler pair from scikit-learn
(``cohen_kappa_score``), Fleiss' kappa overall and per label from statsmodels
(``fleiss_kappa``). Score contract: a kappa lies in [-1, 1]; 1 is perfect agreement, 0 what
chance alone gives, below 0 worse than chance. It is ``None`` where it is undefined: no
sample to compare, or every rating in one category (chance agreement is then 1).

What is compared is a result's set of label names (its "category": ``cat``, or ``cat|dog``
for several); box positions do not enter the kappas. Per label, the category is whether the
result has that label. A gold answer is matched the way acceptance merges results
(:func:`labelarts.services.team_tasks.merging.agree`: the same names, boxes at IoU >= 0.5).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score

from labelarts.services.team_tasks.merging import agree

Result = Sequence[dict[str, Any]]
# sample id -> worker id -> that labeler's handed-in result
Results = Mapping[str, Mapping[str, Result]]


def category(result: Result) -> str:
    """A result's label names as one nominal category."""
    return "|".join(sorted({str(label.get("name")) for label in result}))


def cohen(a: Sequence[str], b: Sequence[str]) -> float | None:
    """Cohen's kappa of two raters over the same items (``None`` when undefined)."""
    if not a or len(set(a) | set(b)) < 2:
        return None
    return float(cohen_kappa_score(list(a), list(b)))


def fleiss(rows: Sequence[Sequence[str]]) -> float | None:
    """Fleiss' kappa of items rated by the same number of raters each (``None`` when undefined)."""
    from statsmodels.stats.inter_rater import fleiss_kappa  # a second of import: only when asked

    if not rows:
        return None
    categories = sorted({c for row in rows for c in row})
    if len(categories) < 2:
        return None
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(rows), len(categories)), dtype=np.int64)
    for i, row in enumerate(rows):
        for c in row:
            table[i, index[c]] += 1
    return float(fleiss_kappa(table, method="fleiss"))


def observed(rows: Sequence[Sequence[str]]) -> float | None:
    """Mean share of agreeing rater pairs per item (Fleiss' P-bar)."""
    if not rows:
        return None
    shares = []
    for row in rows:
        n = len(row)
        counts = Counter(row)
        shares.append(sum(k * (k - 1) for k in counts.values()) / (n * (n - 1)))
    return float(sum(shares) / len(shares))


def agreement(results: Results, labelers: Sequence[str], raters: int) -> dict[str, Any]:
    """``overall`` and per-``labels`` Fleiss' kappa over the samples with exactly ``raters``
    results (Fleiss' kappa needs the same number of raters per item: a sample some labelers
    have not handed in yet waits), and Cohen's kappa for each pair of ``labelers`` over the
    samples both handed in."""
    full = {s: r for s, r in sorted(results.items()) if len(r) == raters and raters >= 2}
    rows = [[category(result) for _, result in sorted(by_worker.items())] for by_worker in full.values()]
    names = sorted({str(label.get("name")) for r in full.values() for res in r.values() for label in res})
    per_label = []
    for name in names:
        binary = [
            ["yes" if any(str(label.get("name")) == name for label in res) else "no" for res in r.values()]
            for r in full.values()
        ]
        per_label.append(
            {
                "name": name,
                "fleiss_kappa": fleiss(binary),
                "observed_agreement": observed(binary),
                "sample_count": sum(1 for row in binary if "yes" in row),
            }
        )
    pairs = []
    for a, b in combinations(labelers, 2):
        common = [s for s, r in sorted(results.items()) if a in r and b in r]
        ra = [category(results[s][a]) for s in common]
        rb = [category(results[s][b]) for s in common]
        pairs.append(
            {
                "worker_ids": [a, b],
                "cohen_kappa": cohen(ra, rb),
                "observed_agreement": (sum(x == y for x, y in zip(ra, rb, strict=True)) / len(common))
                if common
                else None,
                "sample_count": len(common),
            }
        )
    return {
        "overall": {
            "fleiss_kappa": fleiss(rows),
            "observed_agreement": observed(rows),
            "sample_count": len(rows),
            "rater_count": raters,
        },
        "labels": per_label,
        "pairs": pairs,
    }


def gold_accuracy(
    results: Results, answers: Mapping[str, Result], labelers: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per labeler: gold samples handed in, how many match the answer, and the share (``None``
    before the first)."""
    scores: dict[str, dict[str, Any]] = {}
    for worker_id in labelers:
        done = [s for s in sorted(answers) if worker_id in results.get(s, {})]
        correct = sum(1 for s in done if agree(answers[s], results[s][worker_id]))
        scores[worker_id] = {
            "gold_sample_count": len(answers),
            "gold_labeled_count": len(done),
            "gold_correct_count": correct,
            "gold_accuracy": correct / len(done) if done else None,
        }
    return scores


__all__ = ["agreement", "category", "cohen", "fleiss", "gold_accuracy", "observed"]
