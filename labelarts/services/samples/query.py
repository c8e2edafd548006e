"""The sample list: filters, a total order, and pages that stay fast however deep.

Order: by ``(sample_time, sample_id)``, or by ``(top_score, sample_id)`` when a score range
(``low_score``/``high_score``) is asked for; ``desc`` by default, and ``asc`` is its exact
reverse. Pages are page numbers (``offset``), as the reference says.

Deep pages: ``OFFSET n`` walks n index entries. For pages past ``DEEP_OFFSET``, the first
request builds a *skip index* for that filter with one window-function pass (the sort key
of every ``ANCHOR_EVERY``-th row), cached in-process under the dataset's ``data_version``;
later pages seek to the nearest anchor with a keyset condition and walk at most
``ANCHOR_EVERY`` entries. Any change to the dataset's samples bumps ``data_version``, so a
cache entry can never describe other data (several API instances each keep their own).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, select, tuple_
from sqlalchemy.orm import Session

from labelarts.errors import ValidationFailedError
from labelarts.schemas.common import normalize_label_name
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.paths import Grants
from labelarts.services.samples.records import AUTO, MANUAL, UNLABELED, labels_of, sample_to_wire
from labelarts.services.samples.search import conditions_to_sql
from labelarts.services.samples.sources import hide_ungranted_paths
from labelarts.storage.db import Database, counters
from labelarts.storage.db.models import Dataset, Sample, SampleLabel

DEEP_OFFSET = 2_000
ANCHOR_EVERY = 500
CACHE_ENTRIES = 256

# sample_state values of the reference, and the aliases seen in its examples.
STATE_TO_STATUS: dict[str, str | None] = {
    "__ALL__": MANUAL,
    "__NONE__": UNLABELED,
    "__AUTO_ANNOTATION__": AUTO,
    "MANUAL_ANNOTATION": MANUAL,
    "UN_ANNOTATION": UNLABELED,
    "AUTO_ANNOTATION": AUTO,
    # Team-labeling states: no sample is in them until team labeling exists.
    "__UNCHECK__": None,
    "__ACCEPTED__": None,
    "__REJECTED__": None,
    "__UNREVIEWED__": None,
    "__REVIEWED__": None,
    "__WORKFORCE_SAMPLED__": None,
    "__WORKFORCE_SAMPLED_UNCHECK__": None,
    "__WORKFORCE_SAMPLED_CHECKED__": None,
    "__WORKFORCE_SAMPLED_ACCEPTED__": None,
    "__WORKFORCE_SAMPLED_REJECTED__": None,
}


@dataclass(frozen=True)
class SampleQuery:
    offset: int = 0
    limit: int = 10
    order: Literal["asc", "desc"] = "desc"
    sample_state: str | None = None
    sample_type: int | None = None
    label_name: str | None = None
    label_type: int | None = None
    low_score: float | None = None
    high_score: float | None = None
    conditions: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    # Only samples with this status (the auto-annotation list uses AUTO).
    fixed_status: str | None = None

    @property
    def by_score(self) -> bool:
        return self.low_score is not None or self.high_score is not None

    def fingerprint(self) -> str:
        """What identifies the filtered, ordered row set (paging excluded)."""
        import json

        return json.dumps(
            [
                self.order,
                self.sample_state,
                self.sample_type,
                self.label_name,
                self.label_type,
                self.low_score,
                self.high_score,
                list(self.conditions),
                self.fixed_status,
            ],
            sort_keys=True,
            default=str,
        )


@dataclass
class _CacheEntry:
    count: int | None = None
    anchors: list[tuple[Any, str]] | None = None  # sort key of rows 0, N, 2N, ...


class _ListCache:
    """A small thread-safe LRU of counts and skip indexes."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, int, str], _CacheEntry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int, str]) -> _CacheEntry:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = _CacheEntry()
                self._entries[key] = entry
                while len(self._entries) > self._size:
                    self._entries.popitem(last=False)
            else:
                self._entries.move_to_end(key)
            return entry


def validate_scores(low: str | None, high: str | None) -> tuple[float | None, float | None]:
    """Parse low_score/high_score strings: numbers, low <= high (400 otherwise)."""
    values: list[float | None] = []
    for name, raw in (("low_score", low), ("high_score", high)):
        if raw is None or raw == "":
            values.append(None)
            continue
        try:
            number = float(raw)
        except ValueError:
            raise ValidationFailedError(f"{name} must be a number.") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise ValidationFailedError(f"{name} must be a finite number.")
        values.append(number)
    lo, hi = values
    if lo is not None and hi is not None and lo > hi:
        raise ValidationFailedError("low_score must not exceed high_score.")
    return lo, hi


def count_from_counters(session: Session, dataset_id: str, query: SampleQuery) -> int | None:
    """The number of samples matching ``query``, read from the maintained counters
    (:mod:`labelarts.storage.db.counters`) when its filters are only statuses and a label name;
    None when the counters cannot answer (the caller counts rows). Call it after ``_where``
    has validated the query."""
    if query.sample_type is not None or query.label_type is not None or query.by_score or query.conditions:
        return None
    statuses: set[str] | None = None
    if query.fixed_status is not None:
        statuses = {query.fixed_status}
    if query.sample_state is not None:
        status = STATE_TO_STATUS.get(query.sample_state)
        wanted = set() if status is None else {status}
        statuses = wanted if statuses is None else statuses & wanted
    label = normalize_label_name(query.label_name) if query.label_name is not None else None
    return counters.count_matching(session, dataset_id, statuses=statuses, label_name=label)


class SampleListService:
    def __init__(
        self,
        db: Database,
        grants: Grants,
        *,
        deep_offset: int = DEEP_OFFSET,
        anchor_every: int = ANCHOR_EVERY,
    ) -> None:
        self._db = db
        self._grants = grants
        self._cache = _ListCache(CACHE_ENTRIES)
        self.deep_offset = deep_offset
        self.anchor_every = anchor_every

    # --- SQL -------------------------------------------------------------------------
    @staticmethod
    def _where(dataset_id: str, query: SampleQuery) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = [Sample.dataset_id == dataset_id]
        if query.fixed_status is not None:
            where.append(Sample.sample_status == query.fixed_status)
        if query.sample_state is not None:
            if query.sample_state not in STATE_TO_STATUS:
                raise ValidationFailedError(f"Unknown sample_state {query.sample_state!r}.")
            status = STATE_TO_STATUS[query.sample_state]
            where.append(false() if status is None else Sample.sample_status == status)
        if query.sample_type is not None:
            where.append(Sample.sample_type == query.sample_type)
        if query.label_name is not None or query.label_type is not None:
            label_where = [SampleLabel.sample_id == Sample.id, SampleLabel.dataset_id == dataset_id]
            if query.label_name is not None:
                label_where.append(SampleLabel.name == normalize_label_name(query.label_name))
            if query.label_type is not None:
                label_where.append(SampleLabel.type == query.label_type)
            where.append(exists(select(SampleLabel.id).where(*label_where)))
        if query.by_score:
            # A sample matches when its top label score is in [low, high] (inclusive).
            where.append(Sample.top_score >= (query.low_score if query.low_score is not None else 0.0))
            where.append(Sample.top_score <= (query.high_score if query.high_score is not None else 1.0))
        where.extend(conditions_to_sql(dataset_id, query.conditions))
        return where

    @staticmethod
    def _sort_columns(query: SampleQuery) -> tuple[Any, Any]:
        return (Sample.top_score, Sample.id) if query.by_score else (Sample.sample_time, Sample.id)

    def _ordered(self, stmt: Select[Any], query: SampleQuery) -> Select[Any]:
        first, second = self._sort_columns(query)
        if query.order == "asc":
            return stmt.order_by(first.asc(), second.asc())
        return stmt.order_by(first.desc(), second.desc())

    # --- listing ---------------------------------------------------------------------
    def list_samples(
        self, project_id: str, dataset_id: str, query: SampleQuery, *, source_url: Any
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of samples and the number of matching samples.

        ``source_url(sample)`` turns a sample into its (pre-signed) source URL.
        """
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            where = self._where(dataset.id, query)
            entry = self._cache.get((dataset.id, dataset.data_version, query.fingerprint()))
            if entry.count is None:
                entry.count = count_from_counters(session, dataset.id, query)
            if entry.count is None:
                entry.count = int(
                    session.execute(select(func.count()).select_from(Sample).where(*where)).scalar_one()
                )
            start = query.offset * query.limit
            if start >= entry.count:
                return [], entry.count
            ids = self._page_ids(session, dataset, where, query, start, entry)
            samples = {s.id: s for s in session.execute(select(Sample).where(Sample.id.in_(ids))).scalars()}
            labels = labels_of(session, ids)
            scope = self._grants.scope(project_id)
            page = [
                hide_ungranted_paths(sample_to_wire(samples[i], labels[i], source_url(samples[i])), scope)
                for i in ids
            ]
            return page, entry.count

    def _page_ids(
        self,
        session: Session,
        dataset: Dataset,
        where: Sequence[ColumnElement[bool]],
        query: SampleQuery,
        start: int,
        entry: _CacheEntry,
    ) -> list[str]:
        first, second = self._sort_columns(query)
        stmt = self._ordered(select(Sample.id).where(*where), query)
        if start < self.deep_offset:
            return list(session.execute(stmt.offset(start).limit(query.limit)).scalars())
        if entry.anchors is None:
            entry.anchors = self._build_anchors(session, where, query)
        slot = min(start // self.anchor_every, len(entry.anchors) - 1)
        key, sample_id = entry.anchors[slot]
        position = slot * self.anchor_every
        bound = tuple_(first, second)
        seek = bound <= tuple_(key, sample_id) if query.order == "desc" else bound >= tuple_(key, sample_id)
        stmt = stmt.where(seek).offset(start - position).limit(query.limit)
        return list(session.execute(stmt).scalars())

    def _build_anchors(
        self, session: Session, where: Sequence[ColumnElement[bool]], query: SampleQuery
    ) -> list[tuple[Any, str]]:
        first, second = self._sort_columns(query)
        ordering = (first.asc(), second.asc()) if query.order == "asc" else (first.desc(), second.desc())
        numbered = (
            select(first.label("k"), second.label("i"), func.row_number().over(order_by=ordering).label("n"))
            .where(*where)
            .subquery()
        )
        rows = session.execute(
            select(numbered.c.k, numbered.c.i)
            .where((numbered.c.n - 1) % self.anchor_every == 0)
            .order_by(numbered.c.n)
        ).all()
        return [(row[0], row[1]) for row in rows]

    # --- one sample ------------------------------------------------------------------
    def describe(
        self, project_id: str, dataset_id: str, sample_id: str, *, source_url: Any, status: str | None = None
    ) -> dict[str, Any]:
        from labelarts.errors import SampleNotFoundError

        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            if "\x00" in sample_id:
                raise SampleNotFoundError()
            sample = session.execute(
                select(Sample).where(
                    and_(Sample.id == sample_id, Sample.dataset_id == dataset.id),
                    *([Sample.sample_status == status] if status else []),
                )
            ).scalar_one_or_none()
            if sample is None:
                raise SampleNotFoundError()
            body = sample_to_wire(sample, labels_of(session, [sample.id])[sample.id], source_url(sample))
            return hide_ungranted_paths(body, self._grants.scope(project_id))
