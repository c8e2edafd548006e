"""Dealing: shares, repetition and redistribution hold for random sizes (property-based)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hs

from labelarts.services.team_tasks.dealing import DealingError, deal, redeal, top_up


def _labelers(n: int) -> list[str]:
    return [f"w{i:03d}" for i in range(n)]


@settings(max_examples=200, deadline=None)
@given(n_samples=hs.integers(0, 300), n_labelers=hs.integers(1, 25), data=hs.data())
def test_deal_gives_repetition_different_labelers_and_even_shares(
    n_samples: int, n_labelers: int, data: hs.DataObject
) -> None:
    repetition = data.draw(hs.integers(1, n_labelers))
    seed = data.draw(hs.integers(0, 2**31 - 1))
    ids = [f"s{i:05d}" for i in range(n_samples)]
    labelers = _labelers(n_labelers)
    pairs = deal(ids, labelers, repetition, seed)
    assert len(pairs) == len(set(pairs)) == n_samples * repetition
    per_sample: dict[str, set[str]] = {}
    for sample_id, worker in pairs:
        per_sample.setdefault(sample_id, set()).add(worker)
    assert all(len(people) == repetition for people in per_sample.values())
    assert set(per_sample) == set(ids)
    shares = Counter(worker for _, worker in pairs)
    counts = [shares.get(w, 0) for w in labelers]
    assert max(counts) - min(counts) <= 1
    assert min(counts) == n_samples * repetition // n_labelers
    # Reproducible: the same seed deals the same, whatever order the ids come in.
    assert deal(list(reversed(ids)), labelers, repetition, seed) == pairs


def test_repetition_above_labelers_is_refused() -> None:
    with pytest.raises(DealingError):
        deal(["a"], ["w1"], 2, 0)


@settings(max_examples=200, deadline=None)
@given(n_samples=hs.integers(1, 200), n_labelers=hs.integers(2, 12), data=hs.data())
def test_redistribution_loses_nothing_and_deals_nothing_twice(
    n_samples: int, n_labelers: int, data: hs.DataObject
) -> None:
    repetition = data.draw(hs.integers(1, n_labelers - 1))
    labelers = _labelers(n_labelers)
    pairs = deal(
        [f"s{i:05d}" for i in range(n_samples)], labelers, repetition, data.draw(hs.integers(0, 999))
    )
    gone = data.draw(hs.sampled_from(labelers))
    # Some of everyone's work is finished already (stays where it is).
    pick = random.Random(data.draw(hs.integers(0, 999)))
    finished = {p for p in pairs if pick.random() < 0.5 and p[1] != gone}
    orphans = [s for s, w in pairs if w == gone]
    remaining = [w for w in labelers if w != gone]
    holders: dict[str, set[str]] = {}
    for s, w in pairs:
        if w != gone:
            holders.setdefault(s, set()).add(w)
    load = Counter(w for p in pairs if p not in finished and p[1] != gone for w in [p[1]])
    moved = redeal(orphans, remaining, holders, load)
    assert sorted(s for s, _ in moved) == sorted(orphans)  # nothing lost, nothing twice
    after = [p for p in pairs if p[1] != gone] + moved
    assert len(after) == len(set(after))  # nobody holds a sample twice
    per_sample = Counter(s for s, _ in after)
    assert all(count == repetition for count in per_sample.values())
    # Each orphan went to a least loaded labeler among those who could take it.
    level = Counter(load)
    for sample_id, worker in moved:
        eligible = [w for w in remaining if w not in holders.get(sample_id, set())]
        assert level[worker] == min(level[w] for w in eligible)
        level[worker] += 1
        holders.setdefault(sample_id, set()).add(worker)


@settings(max_examples=100, deadline=None)
@given(n_new=hs.integers(0, 100), n_labelers=hs.integers(1, 10), data=hs.data())
def test_top_up_keeps_open_shares_within_one(n_new: int, n_labelers: int, data: hs.DataObject) -> None:
    repetition = data.draw(hs.integers(1, n_labelers))
    labelers = _labelers(n_labelers)
    level = data.draw(hs.integers(0, 5))
    load = {w: level for w in labelers}
    pairs = top_up([f"n{i}" for i in range(n_new)], labelers, load, repetition, 7)
    per_sample: dict[str, set[str]] = {}
    for s, w in pairs:
        per_sample.setdefault(s, set()).add(w)
    assert all(len(people) == repetition for people in per_sample.values())
    shares = Counter(w for _, w in pairs)
    counts = [shares.get(w, 0) for w in labelers]
    assert max(counts) - min(counts) <= 1
