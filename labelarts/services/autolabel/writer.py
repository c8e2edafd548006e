"""The write phase every intelligent task ends with: one chunk writer for all of them.

Auto labeling (classification in :mod:`~labelarts.services.autolabel.job`, object detection in
:mod:`~labelarts.services.autolabel.detection`), pre-labeling and auto grouping's attribute
write (:mod:`~labelarts.services.autolabel.intelligent`) write their results the same way:

* short transactions of at most ``write_rows`` samples (:func:`write_in_chunks`); the first
  checks for a stop with the task's row locked (a stop that came first wins: nothing is
  written); after it a stop is too late and the write runs to the end;
* each transaction claims its samples with one ``UPDATE`` that compares each sample's revision
  with the one the task read and requires it to be still unlabeled or auto-labeled
  (:func:`claim`): a sample a person changed after the read is skipped and counted, never
  overwritten;
* :func:`write_results` creates the label names the dataset lacks (a concurrent rename to one
  of them then conflicts instead of counting these samples twice), replaces the claimed
  samples' labels, status, hard-example fields and metadata, and keeps the maintained
  counters exact, in that one transaction.

Every transaction is complete on its own: a worker that dies between two leaves each sample
either as it was or fully written, and running the task again labels the rest (and, as
unconfirmed auto labels are targets too, labels the written ones again, never twice).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, tuple_, update
from sqlalchemy.orm import Session

from labelarts.jobs.runner import LeaseLost, StopRequested, TaskContext
from labelarts.services.labels import share_or_create_labels
from labelarts.services.samples.records import AUTO, BY_AUTO, UNLABELED, bump_data_version, lock_sample_ids
from labelarts.storage.db import Database, counters, retry_when_busy
from labelarts.storage.db.models import Sample, SampleLabel

__all__ = [
    "AutoLabel",
    "ChunkCallback",
    "SampleResult",
    "WriteOutcome",
    "claim",
    "too_late_to_stop_progress",
    "write_in_chunks",
    "write_metadata",
    "write_results",
]

ChunkCallback = Callable[[int, int], None]
"""Called after each committed transaction with (samples handled so far, all samples)."""

# Progress reports while writing are at least this far apart: each one is a transaction.
_REPORT_EVERY_S = 0.5


@dataclass(frozen=True)
class WriteOutcome:
    written: int
    skipped: int  # changed by a person (or deleted) after the read: left alone


@dataclass(frozen=True)
class AutoLabel:
    """One label a task puts on a sample. ``property`` holds its shape fields (a box's
    ``@modelarts:shape`` and ``@modelarts:feature``); the hard-example fields are added from
    the sample's :class:`SampleResult`."""

    name: str
    score: float
    property: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SampleResult:
    """What a task writes to one sample (read at ``revision``).

    ``reasons`` and ``details`` become ``@modelarts:hard_reasons`` and
    ``@labelarts:hard_details`` in the metadata (details removed when empty); ``metadata`` is
    set over the sample's metadata, ``metadata_defaults`` only where a key is absent.
    """

    sample_id: str
    revision: int
    labels: Sequence[AutoLabel]
    hard: bool
    coefficient: float
    reasons: Sequence[int] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    top_score: float | None = None
    status: str = AUTO
    metadata: Mapping[str, Any] = field(default_factory=dict)
    metadata_defaults: Mapping[str, Any] = field(default_factory=dict)


def write_in_chunks(
    db: Database,
    ctx: TaskContext,
    total: int,
    write_rows: int,
    write_chunk: Callable[[Session, range], int],
    *,
    first: Callable[[Session], None] | None = None,
    on_chunk: ChunkCallback | None = None,
) -> WriteOutcome:
    """Call ``write_chunk(session, rows)`` for consecutive ranges of at most ``write_rows`` of
    ``total`` results, one write transaction each (at least one, so the stop check always runs).

    The first transaction checks for a stop under the task's row lock (StopRequested, nothing
    written), then runs ``first(session)`` (what must exist before any sample is written, such
    as new labels). ``write_chunk`` returns how many samples it wrote; the rest are skipped.
    ``on_chunk`` is called after each committed transaction, outside any transaction.

    A transaction that loses a lock wait is run again (:func:`retry_when_busy`), so
    ``first`` and ``write_chunk`` must change nothing outside the session, or only
    idempotently per chunk (``rows.start`` names it).
    """
    written = 0
    for start in range(0, max(1, total), write_rows):
        rows = range(start, min(total, start + write_rows))

        def transaction(rows: range = rows) -> int:
            with db.session(write=True) as session:
                if rows.start == 0:
                    if ctx.stop_requested(session):
                        raise StopRequested
                    if first is not None:
                        first(session)
                return write_chunk(session, rows) if len(rows) else 0

        written += retry_when_busy(transaction)
        if on_chunk is not None and total:
            on_chunk(rows.stop, total)
    return WriteOutcome(written=written, skipped=total - written)


def too_late_to_stop_progress(ctx: TaskContext, start: float, end: float) -> ChunkCallback:
    """An ``on_chunk`` that reports progress from ``start`` to ``end`` at most every half second
    (which also renews the task's lease). A stop asked for now (by a user, or by the worker
    shutting down) is too late, as the first write transaction was the last check: the write
    goes on. A lost lease (the task is no longer this worker's) ends the write there, between
    two complete transactions."""
    last = [time.monotonic()]

    def reported(done: int, total: int) -> None:
        if time.monotonic() - last[0] < _REPORT_EVERY_S:
            return
        try:
            ctx.report(start + (end - start) * done / total)
        except LeaseLost:
            raise
        except StopRequested:
            pass
        last[0] = time.monotonic()

    return reported


def claim(session: Session, expected: Sequence[tuple[str, int]]) -> list[tuple[str, Any]]:
    """Bump the revision of the samples still at the revision read (``expected``: id and
    revision) and still unlabeled or auto-labeled, locking them; returns (id, metadata) rows
    of those. One ``UPDATE``: ``id IN`` lets SQLite use the primary key (the row-value ``IN``
    alone would scan the table). SQLite holds its write lock from the transaction's start, so
    nothing changes them before it ends. On PostgreSQL the rows are first locked in id order
    (:func:`lock_sample_ids`): the UPDATE alone locks in scan order (heap order under a
    sequential or bitmap scan), which deadlocked with a sample edit locking in id order."""
    if not expected:
        return []
    lock_sample_ids(session, [sample_id for sample_id, _ in expected])
    rows = session.execute(
        update(Sample)
        .where(
            Sample.id.in_([sample_id for sample_id, _ in expected]),
            tuple_(Sample.id, Sample.revision).in_(list(expected)),
            Sample.sample_status.in_([UNLABELED, AUTO]),
        )
        .values(revision=Sample.revision + 1)
        .returning(Sample.id, Sample.metadata_)
        .execution_options(synchronize_session=False)
    ).all()
    return [(str(sample_id), metadata) for sample_id, metadata in rows]


def write_results(
    session: Session,
    dataset_id: str,
    results: Sequence[SampleResult],
    *,
    label_types: Mapping[str, int] | None = None,
    default_type: int = 0,
) -> list[str]:
    """Write ``results`` (one transaction's chunk) to the samples still as read; returns the
    ids of those written.

    The labels written are shared first (``FOR SHARE`` on PostgreSQL), then the samples are
    claimed: the lock order of every writer, so a concurrent rename or deletion of a label
    waits for this chunk and the counts stay exact. A label's type is ``label_types[name]``
    where given, else the dataset's label's type, else ``default_type``.
    """
    names = sorted({label.name for result in results for label in result.labels})
    shared = share_or_create_labels(
        session, dataset_id, {name: (label_types or {}).get(name, default_type) for name in names}
    )
    by_id = {result.sample_id: result for result in results}
    claimed = claim(session, [(result.sample_id, int(result.revision)) for result in results])
    if not claimed:
        return []
    claimed_ids = [sample_id for sample_id, _ in claimed]
    counters.uncount_samples(session, dataset_id, claimed_ids)
    labels: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for sample_id, metadata in claimed:
        result = by_id[sample_id]
        coefficient = round(float(result.coefficient), 6)
        top_score = None if result.top_score is None else round(float(result.top_score), 6)
        hard_fields = {
            "@modelarts:hard": "true" if result.hard else "false",
            "@modelarts:hard_coefficient": str(coefficient),
        }
        for label in result.labels:
            labels.append(
                {
                    "sample_id": sample_id,
                    "dataset_id": dataset_id,
                    "name": label.name,
                    "type": (label_types or {}).get(label.name, shared.get(label.name, default_type)),
                    "score": round(float(label.score), 6),
                    "property": {**label.property, **hard_fields},
                    "annotated_by": BY_AUTO,
                    "sample_top_score": top_score,
                }
            )
        merged = dict(metadata or {})
        for key, value in result.metadata_defaults.items():
            merged.setdefault(key, value)
        merged.update(result.metadata)
        merged["@modelarts:hard_reasons"] = [int(r) for r in result.reasons]
        if result.details:
            merged["@labelarts:hard_details"] = dict(result.details)
        else:
            merged.pop("@labelarts:hard_details", None)
        samples.append(
            {
                "sample_key": sample_id,
                "sample_status": result.status,
                "top_score": top_score,
                "hard": bool(result.hard),
                "hard_coefficient": coefficient,
                "metadata": merged,
            }
        )
        counters.count_facts(
            session,
            dataset_id,
            status=result.status,
            hard=bool(result.hard),
            label_names=[label.name for label in result.labels],
        )
    session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(claimed_ids)))
    # Core statements, one executemany each: the ORM's per-row bookkeeping would double the time.
    # The samples first: the new labels then carry their sample's stored score (migration 0020).
    session.execute(_UPDATE_RESULT, samples)
    if labels:
        session.execute(insert(_sample_labels), labels)
    bump_data_version(session, dataset_id)
    return claimed_ids


def write_metadata(
    session: Session,
    dataset_id: str,
    expected: Sequence[tuple[str, int]],
    values: Mapping[str, Mapping[str, Any]],
) -> int:
    """Set metadata keys (``values[sample_id]``) on the samples still as read; labels and
    status stay as they are. Returns how many were written."""
    claimed = claim(session, expected)
    if not claimed:
        return 0
    rows = [
        {"sample_key": sample_id, "metadata": {**dict(metadata or {}), **values[sample_id]}}
        for sample_id, metadata in claimed
    ]
    session.execute(_UPDATE_METADATA, rows)
    bump_data_version(session, dataset_id)
    return len(claimed)


_samples = cast(Table, Sample.__table__)
_sample_labels = cast(Table, SampleLabel.__table__)
# One written sample's own columns, by primary key (executemany).
_UPDATE_RESULT = (
    update(_samples)
    .where(_samples.c.id == bindparam("sample_key"))
    .values(
        sample_status=bindparam("sample_status"),
        top_score=bindparam("top_score"),
        hard=bindparam("hard"),
        hard_coefficient=bindparam("hard_coefficient"),
        metadata=bindparam("metadata"),
    )
)
_UPDATE_METADATA = (
    update(_samples).where(_samples.c.id == bindparam("sample_key")).values(metadata=bindparam("metadata"))
)
