"""Counts maintained with every change, so no reader counts samples.

Two tables hold them (docs/architecture.md, "Counters"):

* ``dataset_sample_counts``: per dataset, sample status and hard flag, how many samples;
* ``dataset_label_counts``: per dataset, label name and sample status, how many samples carry
  the label (``samples``) and how many label instances they carry (``instances``).

**Every writer of samples or sample labels calls these hooks in the transaction that makes
the change** (imports, sample edits, label renames and deletions, auto-label results, and any
new path):

* :func:`count_facts` for each sample it inserts, with the facts it wrote (no query: imports),
  and for a sample whose old contribution it took out and whose new facts it knows;
* :func:`uncount_samples` *before* it changes or deletes existing samples (their labels,
  status or hard flag) and :func:`count_samples` *after* it changed them (not for deleted
  ones): the samples' old contribution goes, their new one comes, read from the rows;
* :func:`uncount_where` / :func:`count_where` for a set-based change, with a condition on
  ``Sample`` that names the same samples before and after;
* :func:`add` for a delta it computed itself (label deletion).

The hooks only accumulate deltas in the session. :func:`install` makes every session of a
:class:`~labelarts.storage.db.Database` write them when it commits (``before_commit``), in key
order, as atomic ``n = n + delta`` upserts (:func:`~labelarts.storage.db.dialect.add_to_rows`):
concurrent writers on PostgreSQL never lose an increment, and the counter rows are the last
locks a transaction takes (after labels, samples and the dataset row), so they add no deadlock.
A rollback drops the deltas with the rest of the transaction.

Readers: :func:`sample_totals`, :func:`label_totals`, :func:`count_matching`.
:func:`recount` counts from the rows (the tests' oracle); :func:`rebuild` replaces a dataset's
counters with a recount (fixtures that insert rows directly, a repair).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    distinct,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.orm import Session, aliased, sessionmaker

from labelarts.storage.db.dialect import add_to_rows, chunked
from labelarts.storage.db.models import DatasetLabelCount, DatasetSampleCount, Sample, SampleLabel

MANUAL: Final = "MANUAL_ANNOTATION"
AUTO: Final = "AUTO_ANNOTATION"
_PENDING: Final = "labelarts.counters"

StatusKey = tuple[str, str, bool]  # dataset_id, sample_status, hard
LabelKey = tuple[str, str, str]  # dataset_id, label name, sample_status


@dataclass
class Deltas:
    """Changes to the counters that a transaction has made and not yet written."""

    samples: Counter[StatusKey] = field(default_factory=Counter)
    label_samples: Counter[LabelKey] = field(default_factory=Counter)
    label_instances: Counter[LabelKey] = field(default_factory=Counter)

    def is_empty(self) -> bool:
        counters = (self.samples, self.label_samples, self.label_instances)
        return not any(any(counter.values()) for counter in counters)


@dataclass(frozen=True)
class SampleTotals:
    """A dataset's sample counts, as the dataset detail and statistics answer them."""

    total: int = 0
    manual: int = 0
    auto: int = 0
    hard: int = 0

    @property
    def unlabeled(self) -> int:
        return self.total - self.manual - self.auto


@dataclass(frozen=True)
class Snapshot:
    """Every count of one dataset, zeros left out (to compare stored counts with a recount)."""

    samples: dict[tuple[str, bool], int]
    labels: dict[tuple[str, str], tuple[int, int]]  # (name, status) -> (samples, instances)


# --- hooks: accumulate ------------------------------------------------------------------


def pending(session: Session) -> Deltas:
    """The deltas this session's transaction has accumulated (created on first use)."""
    deltas = session.info.get(_PENDING)
    if deltas is None:
        deltas = session.info[_PENDING] = Deltas()
    assert isinstance(deltas, Deltas)
    return deltas


def count_facts(
    session: Session, dataset_id: str, *, status: str, hard: bool, label_names: Iterable[str] = ()
) -> None:
    """Count one sample with this status, hard flag and labels (one name per label instance:
    a name twice is two instances on one sample): a sample inserted in this transaction, or
    one whose old contribution :func:`uncount_samples` took out."""
    deltas = pending(session)
    deltas.samples[(dataset_id, status, bool(hard))] += 1
    for name, instances in Counter(label_names).items():
        key = (dataset_id, name, status)
        deltas.label_samples[key] += 1
        deltas.label_instances[key] += instances


def add(
    session: Session,
    dataset_id: str,
    *,
    samples: dict[tuple[str, bool], int] | None = None,
    labels: dict[tuple[str, str], tuple[int, int]] | None = None,
) -> None:
    """Add deltas: ``samples[(status, hard)]``, ``labels[(name, status)] = (samples, instances)``."""
    deltas = pending(session)
    for (status, hard), n in (samples or {}).items():
        deltas.samples[(dataset_id, status, bool(hard))] += n
    for (name, status), (carrying, instances) in (labels or {}).items():
        deltas.label_samples[(dataset_id, name, status)] += carrying
        deltas.label_instances[(dataset_id, name, status)] += instances


def uncount_samples(session: Session, dataset_id: str, sample_ids: Iterable[str]) -> None:
    """Take these samples' current contribution (read from their rows) out of the counts:
    call it before changing or deleting them, with the samples locked."""
    _contribute_ids(session, dataset_id, sample_ids, -1)


def count_samples(session: Session, dataset_id: str, sample_ids: Iterable[str]) -> None:
    """Put these samples' current contribution into the counts: call it after changing them."""
    _contribute_ids(session, dataset_id, sample_ids, +1)


def uncount_where(session: Session, dataset_id: str, *where: ColumnElement[bool]) -> None:
    """:func:`uncount_samples` for the dataset's samples matching ``where`` (set-based)."""
    _contribute(session, dataset_id, where, -1)


def count_where(session: Session, dataset_id: str, *where: ColumnElement[bool]) -> None:
    """:func:`count_samples` for the dataset's samples matching ``where`` (set-based)."""
    _contribute(session, dataset_id, where, +1)


def _contribute(session: Session, dataset_id: str, where: Iterable[ColumnElement[bool]], sign: int) -> None:
    session.flush()
    _add_snapshot(session, dataset_id, _measure(session, and_(Sample.dataset_id == dataset_id, *where)), sign)


def _contribute_ids(session: Session, dataset_id: str, sample_ids: Iterable[str], sign: int) -> None:
    """:func:`_contribute` for samples by id, through statements built once (building the two
    statements cost several times running them on a page of samples: a PUT of 20 measures
    twice)."""
    session.flush()
    by_samples, by_labels = _statements_by_ids()
    for chunk in chunked(sorted(set(sample_ids))):
        params = {"dataset_id": dataset_id, "ids": chunk}
        _add_snapshot(session, dataset_id, _read(session, by_samples, by_labels, params), sign)


def _add_snapshot(session: Session, dataset_id: str, snapshot: Snapshot, sign: int) -> None:
    add(
        session,
        dataset_id,
        samples={key: sign * n for key, n in snapshot.samples.items()},
        labels={key: (sign * s, sign * i) for key, (s, i) in snapshot.labels.items()},
    )


def measure(session: Session, condition: ColumnElement[bool]) -> Snapshot:
    """What the samples matching ``condition`` contribute to the counts, read from their rows
    (for a writer that computes its own deltas for :func:`add`)."""
    session.flush()
    return _measure(session, condition)


def _measure(session: Session, condition: ColumnElement[bool]) -> Snapshot:
    return _read(session, *_statements(condition), {})


# status, hard, samples; and name, status, samples carrying it, instances
_Measures = tuple[Select[str, bool, int], Select[str, str, int, int]]


def _statements(condition: ColumnElement[bool]) -> _Measures:
    """What the samples matching ``condition`` count for: per status and hard flag, and per
    label name and status (samples carrying it, instances)."""
    by_samples = (
        select(Sample.sample_status, Sample.hard, func.count())
        .where(condition)
        .group_by(Sample.sample_status, Sample.hard)
    )
    # An alias, so that a ``condition`` with its own subquery on sample_labels (the carriers of
    # a label) does not correlate with this one.
    label = aliased(SampleLabel)
    by_labels = (
        select(label.name, Sample.sample_status, func.count(distinct(Sample.id)), func.count())
        .select_from(label)
        .join(Sample, Sample.id == label.sample_id)
        .where(condition)
        .group_by(label.name, Sample.sample_status)
    )
    return by_samples, by_labels


@functools.cache
def _statements_by_ids() -> _Measures:
    """:func:`_statements` for a dataset's samples by id (parameters ``dataset_id``, ``ids``)."""
    return _statements(
        and_(Sample.dataset_id == bindparam("dataset_id"), Sample.id.in_(bindparam("ids", expanding=True)))
    )


def _read(
    session: Session,
    by_samples: Select[str, bool, int],
    by_labels: Select[str, str, int, int],
    params: dict[str, Any],
) -> Snapshot:
    samples = {(status, bool(hard)): int(n) for status, hard, n in session.execute(by_samples, params)}
    labels = {
        (name, status): (int(carrying), int(instances))
        for name, status, carrying, instances in session.execute(by_labels, params)
    }
    return Snapshot(samples, labels)


# --- writing at commit ------------------------------------------------------------------


def install(sessions: sessionmaker[Session]) -> None:
    """Make the sessions of ``sessions`` write their deltas when they commit and drop them
    when they roll back."""
    event.listen(sessions, "before_commit", write_pending)
    event.listen(sessions, "after_rollback", _drop_pending)


def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)


def write_pending(session: Session) -> None:
    """Write the accumulated deltas (sorted by key, the lock order) and forget them."""
    deltas = session.info.pop(_PENDING, None)
    if not isinstance(deltas, Deltas) or deltas.is_empty():
        return
    add_to_rows(
        session,
        DatasetSampleCount,
        ("dataset_id", "sample_status", "hard"),
        ("n",),
        [
            {"dataset_id": d, "sample_status": s, "hard": h, "n": n}
            for (d, s, h), n in sorted(deltas.samples.items())
            if n
        ],
    )
    keys = sorted(set(deltas.label_samples) | set(deltas.label_instances))
    changes = [
        (key, deltas.label_samples[key], deltas.label_instances[key])
        for key in keys
        if deltas.label_samples[key] or deltas.label_instances[key]
    ]
    add_to_rows(
        session,
        DatasetLabelCount,
        ("dataset_id", "name", "sample_status"),
        ("samples", "instances"),
        [
            {"dataset_id": d, "name": name, "sample_status": s, "samples": carrying, "instances": instances}
            for (d, name, s), carrying, instances in changes
        ],
    )
    # A label no sample of that status carries any more (renamed, deleted, confirmed) leaves
    # no row behind; the rows are already this transaction's.
    emptied = [
        {"d": d, "name": name, "s": s}
        for (d, name, s), carrying, instances in changes
        if carrying < 0 or instances < 0
    ]
    if emptied:
        table = cast(Table, DatasetLabelCount.__table__)
        session.execute(
            delete(table).where(
                table.c.dataset_id == bindparam("d"),
                table.c.name == bindparam("name"),
                table.c.sample_status == bindparam("s"),
                table.c.samples == 0,
                table.c.instances == 0,
            ),
            emptied,
        )


def forget_dataset(session: Session, dataset_id: str) -> None:
    """Delete a dataset's counters (with the dataset: call it after deleting its row)."""
    deltas = pending(session)
    for counter in (deltas.samples, deltas.label_samples, deltas.label_instances):
        for key in [k for k in counter if k[0] == dataset_id]:
            del counter[key]
    session.execute(delete(DatasetSampleCount).where(DatasetSampleCount.dataset_id == dataset_id))
    session.execute(delete(DatasetLabelCount).where(DatasetLabelCount.dataset_id == dataset_id))


# --- reading ----------------------------------------------------------------------------


def sample_totals(session: Session, dataset_ids: Collection[str]) -> dict[str, SampleTotals]:
    """Sample counts of each dataset: a few counter rows each, whatever the dataset's size."""
    acc: dict[str, list[int]] = {d: [0, 0, 0, 0] for d in dataset_ids}
    for chunk in chunked(sorted(set(dataset_ids))):
        for dataset_id, status, hard, n in session.execute(
            select(
                DatasetSampleCount.dataset_id,
                DatasetSampleCount.sample_status,
                DatasetSampleCount.hard,
                DatasetSampleCount.n,
            ).where(DatasetSampleCount.dataset_id.in_(chunk))
        ):
            counts = acc[dataset_id]
            counts[0] += n
            counts[1] += n if status == MANUAL else 0
            counts[2] += n if status == AUTO else 0
            counts[3] += n if hard else 0
    return {d: SampleTotals(*counts) for d, counts in acc.items()}


def label_totals(session: Session, dataset_id: str) -> dict[str, tuple[int, int]]:
    """Label name -> (instances, samples carrying it), over every status."""
    return {
        name: (int(instances), int(carrying))
        for name, instances, carrying in session.execute(
            select(
                DatasetLabelCount.name,
                func.sum(DatasetLabelCount.instances),
                func.sum(DatasetLabelCount.samples),
            )
            .where(DatasetLabelCount.dataset_id == dataset_id)
            .group_by(DatasetLabelCount.name)
        )
    }


def _count_statements() -> dict[tuple[bool, str], Select[Any]]:
    """``count_matching``'s statements, built once: (by label, statuses: all|one|many) → statement."""
    samples = select(func.coalesce(func.sum(DatasetSampleCount.n), 0)).where(
        DatasetSampleCount.dataset_id == bindparam("dataset_id")
    )
    labels = select(func.coalesce(func.sum(DatasetLabelCount.samples), 0)).where(
        DatasetLabelCount.dataset_id == bindparam("dataset_id"), DatasetLabelCount.name == bindparam("label")
    )
    built: dict[tuple[bool, str], Select[Any]] = {}
    for by_label, base, status in (
        (False, samples, DatasetSampleCount.sample_status),
        (True, labels, DatasetLabelCount.sample_status),
    ):
        built[by_label, "all"] = base
        built[by_label, "one"] = base.where(status == bindparam("status"))
        built[by_label, "many"] = base.where(status.in_(bindparam("statuses", expanding=True)))
    return built


_COUNT = _count_statements()


def matching_count(
    *, statuses: Collection[str] | None, label_name: str | None
) -> tuple[Select[Any], dict[str, Any]] | int:
    """What :func:`count_matching` runs: a statement built once (its dataset bound as
    ``dataset_id``) and its other parameters, for a caller that reads the count within a
    statement of its own; or the count itself when no status can match (0)."""
    if statuses is not None and not statuses:
        return 0
    params: dict[str, Any] = {"label": label_name}
    if statuses is None:
        shape = "all"
    elif len(statuses) == 1:
        shape, params["status"] = "one", next(iter(statuses))
    else:
        shape, params["statuses"] = "many", sorted(statuses)
    return _COUNT[label_name is not None, shape], params


def count_matching(
    session: Session | Connection,
    dataset_id: str,
    *,
    statuses: Collection[str] | None,
    label_name: str | None,
) -> int:
    """How many samples of the dataset have one of ``statuses`` (None: any) and, when
    ``label_name`` is given, carry that label."""
    found = matching_count(statuses=statuses, label_name=label_name)
    if isinstance(found, int):
        return found
    statement, params = found
    return int(session.execute(statement, {**params, "dataset_id": dataset_id}).scalar_one())


def stored(session: Session, dataset_id: str) -> Snapshot:
    """The dataset's stored counters (zeros left out)."""
    samples = {
        (status, bool(hard)): int(n)
        for status, hard, n in session.execute(
            select(DatasetSampleCount.sample_status, DatasetSampleCount.hard, DatasetSampleCount.n).where(
                DatasetSampleCount.dataset_id == dataset_id
            )
        )
        if n
    }
    labels = {
        (name, status): (int(carrying), int(instances))
        for name, status, carrying, instances in session.execute(
            select(
                DatasetLabelCount.name,
                DatasetLabelCount.sample_status,
                DatasetLabelCount.samples,
                DatasetLabelCount.instances,
            ).where(DatasetLabelCount.dataset_id == dataset_id)
        )
        if carrying or instances
    }
    return Snapshot(samples, labels)


def rebuild(executor: Session | Connection, dataset_id: str) -> None:
    """Replace the dataset's counters with a recount of its rows: for rows written without
    the hooks (test and benchmark fixtures that insert rows directly), and as a repair."""
    executor.execute(delete(DatasetSampleCount).where(DatasetSampleCount.dataset_id == dataset_id))
    executor.execute(delete(DatasetLabelCount).where(DatasetLabelCount.dataset_id == dataset_id))
    executor.execute(
        insert(DatasetSampleCount).from_select(
            ["dataset_id", "sample_status", "hard", "n"],
            select(Sample.dataset_id, Sample.sample_status, Sample.hard, func.count())
            .where(Sample.dataset_id == dataset_id)
            .group_by(Sample.dataset_id, Sample.sample_status, Sample.hard),
        )
    )
    executor.execute(
        insert(DatasetLabelCount).from_select(
            ["dataset_id", "name", "sample_status", "samples", "instances"],
            select(
                Sample.dataset_id,
                SampleLabel.name,
                Sample.sample_status,
                func.count(distinct(Sample.id)),
                func.count(),
            )
            .select_from(SampleLabel)
            .join(Sample, Sample.id == SampleLabel.sample_id)
            .where(Sample.dataset_id == dataset_id)
            .group_by(Sample.dataset_id, SampleLabel.name, Sample.sample_status),
        )
    )


def recount(session: Session, dataset_id: str) -> Snapshot:
    """The dataset's counts counted from its rows (what :func:`stored` must equal)."""
    return _measure(session, Sample.dataset_id == dataset_id)
