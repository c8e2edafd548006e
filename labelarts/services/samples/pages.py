"""Where each page of a filtered sample list starts, kept exact across changes.

The sample list answers pages by number (``offset``), and ``OFFSET n`` walks ``n`` index
entries. For every filter in use (a :class:`PageEntry`, keyed by dataset and the filter's
fingerprint) this module keeps

* ``count``: how many samples match, and
* *anchors*: sort keys ``K`` with ``P(K)``, the number of matching samples that come
  strictly before ``K`` in the list's order. A page at ``start`` seeks to the anchor with
  the largest ``P <= start`` (a keyset condition on the index) and walks ``start - P``.

Anchors come from one pass over the filter (every ``anchor_every``-th key, at the first deep
page) and from every page served (its first key, and the key after its last), so paging on
from where a reviewer is costs a keyset read of one page.

Both stay exact across changes without a rebuild: a writer that changes samples in this
process (:class:`ChangeTracker`: update and delete through the API) reads, in its own
transaction, which changed samples matched each of the dataset's filters before and after
the change, with their sort keys, and the entry moves its count and anchors by those
differences when the transaction has committed. Every entry is tied to the dataset's
``data_version``; a change this process did not see (an import or auto labeling in a worker
process, another API instance, a set-based label change) leaves a gap in the versions, and
the entry starts over (count again; anchors again at the next deep page).

Sort keys are compared in Python to find the anchors a change moves, so that needs the
database to order ids bytewise (SQLite; PostgreSQL with the ``C`` collation). Elsewhere
:attr:`PageIndex.tracks_changes` is false (set by ``dialect.orders_text_bytewise`` at start-up)
and every change starts the entries over.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

SortKey = tuple[Any, str]

# Filters kept per process, and how many of one dataset a writer updates (the rest are dropped).
MAX_ENTRIES = 256
MAX_TRACKED_PER_DATASET = 16
# Anchors one entry keeps at most (pages served add some; past this they are not added).
MAX_ANCHORS = 20_000


@dataclass
class PageEntry:
    """What is known about one filtered, ordered list at ``version``."""

    version: int
    descending: bool
    count: int | None = None
    # Sort keys in ascending key order, whatever the list's order, and P(K) for each.
    keys: list[SortKey] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    built: bool = False  # the anchors of a full pass are in
    used_at: float = 0.0

    def reset(self, version: int) -> None:
        self.version = version
        self.count = None
        self.keys = []
        self.positions = []
        self.built = False

    # --- anchors --------------------------------------------------------------------------
    def nearest(self, start: int) -> tuple[SortKey, int] | None:
        """The anchor with the largest position at or before ``start``."""
        if not self.keys:
            return None
        positions = self.positions
        if not self.descending:  # positions rise with the keys
            index = bisect_right(positions, start) - 1
            if index < 0:
                return None
        else:  # positions fall as the keys rise: the first key whose position is <= start
            lo, hi = 0, len(positions)
            while lo < hi:
                mid = (lo + hi) // 2
                if positions[mid] <= start:
                    hi = mid
                else:
                    lo = mid + 1
            index = lo
            if index >= len(positions):
                return None
        return self.keys[index], positions[index]

    def add_anchor(self, key: SortKey, position: int) -> None:
        index = bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            self.positions[index] = position
            return
        if len(self.keys) >= MAX_ANCHORS:
            return
        self.keys.insert(index, key)
        self.positions.insert(index, position)

    def set_anchors(self, keys_in_list_order: Sequence[SortKey], every: int) -> None:
        keys = list(keys_in_list_order)
        positions = [i * every for i in range(len(keys))]
        if self.descending:
            keys.reverse()
            positions.reverse()
        self.keys, self.positions, self.built = keys, positions, True

    # --- changes --------------------------------------------------------------------------
    def move(self, key: SortKey, step: int) -> None:
        """A sample with sort ``key`` entered (+1) or left (-1) the list."""
        if self.count is not None:
            self.count += step
        if self.descending:  # anchors below the key come after it
            end = bisect_left(self.keys, key)
            positions = self.positions
            for i in range(end):
                positions[i] += step
        else:
            positions = self.positions
            for i in range(bisect_right(self.keys, key), len(positions)):
                positions[i] += step


class PageIndex:
    """The process's page entries (an LRU), shared by the list and the writers."""

    def __init__(self, size: int = MAX_ENTRIES) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], PageEntry] = OrderedDict()
        self._filters: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.tracks_changes = True

    def entry(
        self, dataset_id: str, fingerprint: str, version: int, descending: bool, query: Any
    ) -> PageEntry:
        """The entry for this filter at ``version`` (started over if it was at another)."""
        key = (dataset_id, fingerprint)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = PageEntry(version, descending)
                self._entries[key] = entry
                self._filters[key] = query
                while len(self._entries) > self._size:
                    old, _ = self._entries.popitem(last=False)
                    self._filters.pop(old, None)
            else:
                self._entries.move_to_end(key)
                if entry.version < version:
                    entry.reset(version)
                elif entry.version > version:  # a reader behind a change already applied
                    return PageEntry(version, descending)
            entry.used_at = time.monotonic()
            return entry

    def lock(self) -> threading.Lock:
        return self._lock

    def of_dataset(self, dataset_id: str) -> list[tuple[tuple[str, str], PageEntry, Any]]:
        with self._lock:
            found = [(k, e, self._filters[k]) for k, e in self._entries.items() if k[0] == dataset_id]
        found.sort(key=lambda item: item[1].used_at, reverse=True)
        return found

    def forget(self, keys: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)
                self._filters.pop(key, None)


# members(session, filters, sample_ids) -> for each filter (its fingerprint and query), the
# {sample_id: sort key} of those that match it (one read for all the filters: a writer asks
# before and after each change)
Members = Callable[[Any, Sequence[tuple[str, Any]], Sequence[str]], list[dict[str, SortKey]]]


class ChangeTracker:
    """Carries a writer's changes to the page entries of one dataset.

    In the writer's transaction, with the samples locked: :meth:`before` ahead of the change,
    :meth:`after` once it is written and the dataset's version bumped; :meth:`apply` after the
    commit. Entries at another version than the one this change started from are dropped.
    """

    def __init__(self, index: PageIndex, dataset_id: str, members: Members) -> None:
        self._index = index
        self._dataset_id = dataset_id
        self._members = members
        self._tracked: list[tuple[tuple[str, str], PageEntry, Any]] = []
        self._filters: list[tuple[str, Any]] = []  # the tracked entries' (fingerprint, query)
        self._ids: list[str] = []
        self._before: list[dict[str, SortKey]] = []
        self._after: list[dict[str, SortKey]] = []
        self._new_version: int | None = None

    def before(self, session: Any, sample_ids: Sequence[str]) -> None:
        entries = self._index.of_dataset(self._dataset_id)
        if not self._index.tracks_changes:
            self._index.forget(k for k, _, _ in entries)
            return
        self._tracked = entries[:MAX_TRACKED_PER_DATASET]
        self._index.forget(k for k, _, _ in entries[MAX_TRACKED_PER_DATASET:])
        self._ids = list(sample_ids)
        self._filters = [(key[1], query) for key, _, query in self._tracked]
        self._before = self._members(session, self._filters, self._ids)

    def after(self, session: Any, new_version: int, *, deleted: bool = False) -> None:
        self._new_version = new_version
        if deleted:
            self._after = [{} for _ in self._tracked]
        else:
            self._after = self._members(session, self._filters, self._ids)

    def apply(self) -> None:
        """After the commit: move each entry that was at the version before this change."""
        if self._new_version is None:
            return
        with self._index.lock():
            for (_, entry, _), before, after in zip(self._tracked, self._before, self._after, strict=True):
                if entry.version != self._new_version - 1:
                    entry.reset(-1)  # a change in between this process did not see
                    continue
                for key in before.values():
                    entry.move(key, -1)
                for key in after.values():
                    entry.move(key, +1)
                entry.version = self._new_version
