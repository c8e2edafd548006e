"""Dealing a team task's samples to its labelers: pure functions, ids in and assignments out.

Contract (docs/team-labeling.md, "Dealing"):

- :func:`deal` gives every sample ``repetition`` *different* labelers, and every labeler's
  share is ⌊N·r/n⌋ or one more; the same ids, labelers and seed always deal the same.
- :func:`top_up` gives new samples (``synchronize_data``) to the labelers with the fewest open
  assignments, so the shares of open work stay within one.
- :func:`redeal` moves a removed labeler's unfinished assignments to the others without
  giving anyone a sample twice; nothing is lost and nothing is dealt twice.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence


class DealingError(ValueError):
    """The labelers cannot hold the work (fewer labelers than ``repetition``)."""


def shuffled(sample_ids: Sequence[str], seed: int) -> list[str]:
    """The ids in a reproducible random order: sorted first, so the order the database
    returned them in does not matter."""
    order = sorted(sample_ids)
    random.Random(seed).shuffle(order)
    return order


def deal(
    sample_ids: Sequence[str], labelers: Sequence[str], repetition: int, seed: int
) -> list[tuple[str, str]]:
    """``(sample_id, labeler)`` pairs: sample *i* (after the seeded shuffle) goes to labelers
    ``L[(i·r + k) mod n]`` for k < r, so consecutive runs of the labeler ring are handed out
    and the counts differ by at most one."""
    n = len(labelers)
    if repetition < 1:
        raise DealingError("repetition must be at least 1.")
    if not sample_ids:
        return []
    if repetition > n:
        raise DealingError(f"repetition {repetition} needs at least {repetition} labelers; the task has {n}.")
    ring = list(labelers)
    pairs: list[tuple[str, str]] = []
    for i, sample_id in enumerate(shuffled(sample_ids, seed)):
        for k in range(repetition):
            pairs.append((sample_id, ring[(i * repetition + k) % n]))
    return pairs


def _least_loaded(load: Mapping[str, int], order: Sequence[str], exclude: set[str]) -> str | None:
    best: str | None = None
    for labeler in order:  # stable: the labeler order breaks ties
        if labeler in exclude:
            continue
        if best is None or load[labeler] < load[best]:
            best = labeler
    return best


def top_up(
    sample_ids: Sequence[str],
    labelers: Sequence[str],
    open_load: Mapping[str, int],
    repetition: int,
    seed: int,
) -> list[tuple[str, str]]:
    """New samples for a running task: each to ``repetition`` different labelers, every time
    the one with the fewest open assignments (ties: the labeler order)."""
    if not sample_ids:
        return []
    if repetition > len(labelers):
        raise DealingError(f"repetition {repetition} needs at least {repetition} labelers.")
    load = {labeler: int(open_load.get(labeler, 0)) for labeler in labelers}
    pairs: list[tuple[str, str]] = []
    for sample_id in shuffled(sample_ids, seed):
        taken: set[str] = set()
        for _ in range(repetition):
            chosen = _least_loaded(load, labelers, taken)
            assert chosen is not None
            taken.add(chosen)
            load[chosen] += 1
            pairs.append((sample_id, chosen))
    return pairs


def redeal(
    orphans: Sequence[str],
    labelers: Sequence[str],
    holders: Mapping[str, set[str]],
    open_load: Mapping[str, int],
) -> list[tuple[str, str]]:
    """Where a removed labeler's unfinished samples go: ``orphans`` are their sample ids,
    ``holders`` the remaining labelers each sample already has. Each orphan goes to the least
    loaded remaining labeler who does not hold it yet; :class:`DealingError` when none is left."""
    load = {labeler: int(open_load.get(labeler, 0)) for labeler in labelers}
    pairs: list[tuple[str, str]] = []
    for sample_id in sorted(orphans):
        chosen = _least_loaded(load, labelers, set(holders.get(sample_id, set())))
        if chosen is None:
            raise DealingError(
                f"sample {sample_id} has no labeler left who does not already label it: "
                "add labelers or lower repetition first."
            )
        load[chosen] += 1
        pairs.append((sample_id, chosen))
    return pairs
