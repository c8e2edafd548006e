"""Sample rows and their ModelArts wire form (``DescribeSampleResp``)."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Boolean, Float, Select, Table, Text, cast, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.types import JSON

from labelarts.clock import new_sample_id, now_ms
from labelarts.storage.db import counters
from labelarts.storage.db.dialect import (
    among_bound_ids,
    chunked,
    dialect_name_of,
    insert_rows,
    json_rows_of,
    loads_json,
    lock_rows_in_order,
    sqlite_exact_real,
    uses_row_locks,
)
from labelarts.storage.db.models import Dataset, Sample, SampleLabel

UNLABELED, MANUAL, AUTO = "UN_ANNOTATION", "MANUAL_ANNOTATION", "AUTO_ANNOTATION"
# sample_status on the wire, as the reference enumerates it.
WIRE_STATUS = {UNLABELED: "__NONE__", MANUAL: "__ALL__", AUTO: "__AUTO_ANNOTATION__"}
# Sample type for each dataset type (0 image, 1 text, 2 audio, 4 table, 6 video, 9 other).
SAMPLE_TYPE = {0: 0, 1: 0, 3: 0, 100: 1, 101: 1, 102: 1, 200: 2, 201: 2, 202: 2, 400: 4, 600: 6, 900: 9}
# A label's annotated_by, as the reference enumerates it (stored and answered as is).
BY_HUMAN, BY_AUTO = "human", "auto"
# A text sample's text in the sample list and detail (sample_data) is cut to this many
# characters (docs/api.md); the source URL serves all of it.
SAMPLE_DATA_MAX_CHARS = 10_000


@dataclass
class LabelInput:
    """A label to put on a sample (already validated)."""

    name: str
    type: int
    score: float | None = None
    property: dict[str, Any] = field(default_factory=dict)
    annotated_by: str = BY_HUMAN


def bump_data_version(session: Session, dataset_id: str) -> int:
    """Record that the dataset's samples or labels changed (same transaction as the change);
    the new ``data_version`` (``RETURNING``: no second statement to read it back)."""
    return int(
        session.execute(
            update(Dataset)
            .where(Dataset.id == dataset_id)
            .values(data_version=Dataset.data_version + 1, data_update_time=now_ms())
            .returning(Dataset.data_version)
        ).scalar_one()
    )


def lock_samples(session: Session, dataset_id: str, sample_ids: Iterable[str]) -> dict[str, Sample]:
    """The dataset's samples with these ids (absent ids are left out), read fresh and, on
    PostgreSQL, locked ``FOR UPDATE`` until the transaction ends.

    Locks are taken in id order, the order every writer of samples uses, so two writers of
    overlapping samples queue instead of deadlocking (docs/architecture.md, "Integrity"). A
    sample deleted by a writer that committed while this one waited is simply absent.
    """
    return lock_rows_in_order(session, Sample, Sample.id, sample_ids, Sample.dataset_id == dataset_id)


def lock_sample_ids(session: Session, sample_ids: Iterable[str]) -> None:
    """On PostgreSQL, lock the samples with these ids ``FOR UPDATE`` in id order, reading only
    their ids: for a writer whose set-based statement would otherwise lock them in scan order
    (the order of :func:`lock_samples`, without loading the rows). Nothing on SQLite."""
    if not uses_row_locks(session):
        return
    for chunk in chunked(sorted(set(sample_ids))):
        session.execute(
            select(Sample.id).where(Sample.id.in_(chunk)).order_by(Sample.id).with_for_update()
        ).all()


def new_sample(
    dataset: Dataset,
    *,
    source_kind: str,
    source_key: str,
    sample_name: str,
    sample_dir: str,
    sample_size: int,
    sample_time: int,
    metadata: dict[str, Any],
    content_hash: str | None,
    import_origin: str | None,
    sample_type: int | None = None,
    text: str | None = None,
) -> Sample:
    """A new sample row; ``text`` is a text sample's text (kept cut, for ``sample_data``)."""
    return Sample(
        id=new_sample_id(),
        dataset_id=dataset.id,
        sample_type=SAMPLE_TYPE.get(dataset.dataset_type, 9) if sample_type is None else sample_type,
        sample_status=UNLABELED,
        sample_name=sample_name,
        sample_dir=sample_dir,
        source_kind=source_kind,
        source_key=source_key,
        content_hash=content_hash,
        sample_size=sample_size,
        sample_time=sample_time,
        metadata_=metadata,
        hard=False,
        import_origin=import_origin,
        text=text[:SAMPLE_DATA_MAX_CHARS] if text is not None else None,
        # Given, not left to the column's server default: the ORM would then fetch it back
        # row by row, one INSERT per sample instead of one multi-row INSERT per batch.
        revision=0,
    )


def new_sample_rows(
    dataset_id: str,
    dataset_type: int,
    *,
    source_kind: str,
    source_key: str,
    sample_name: str,
    sample_dir: str,
    sample_size: int,
    sample_time: int,
    metadata: dict[str, Any],
    content_hash: str | None,
    import_origin: str | None,
    labels: Sequence[LabelInput],
    status: str,
    hard: bool = False,
    hard_coefficient: float | None = None,
    text: str | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A new sample and its labels as plain rows (column name -> value) for
    :func:`insert_sample_rows`: the same values :func:`new_sample` followed by
    :func:`set_sample_labels` (``new=True``) give, without building ORM objects (imports insert
    hundreds of thousands)."""
    sample_id = new_sample_id()
    top_score = top_score_of(labels)
    sample = {
        "id": sample_id,
        "dataset_id": dataset_id,
        "sample_type": SAMPLE_TYPE.get(dataset_type, 9),
        "sample_status": (status or MANUAL) if labels else UNLABELED,
        "sample_name": sample_name,
        "sample_dir": sample_dir,
        "source_kind": source_kind,
        "source_key": source_key,
        "content_hash": content_hash,
        "sample_size": sample_size,
        "sample_time": sample_time,
        "metadata": metadata,
        "hard": hard,
        "hard_coefficient": hard_coefficient,
        "top_score": top_score,
        "import_origin": import_origin,
        "labeler": None,
        "parent_sample_id": None,
        "revision": 0,
        "text": text[:SAMPLE_DATA_MAX_CHARS] if text is not None else None,
    }
    return sample, [_label_row(sample_id, dataset_id, label, top_score) for label in labels]


def top_score_of(labels: Sequence[LabelInput]) -> float | None:
    """A sample's ``top_score`` with these labels: the highest label score, None without one."""
    scores = [label.score for label in labels if label.score is not None]
    return max(scores) if scores else None


def _label_row(sample_id: str, dataset_id: str, label: LabelInput, top_score: float | None) -> dict[str, Any]:
    """A new ``sample_labels`` row (column name -> value) for a Core INSERT. ``top_score``: the
    sample's, copied on the row: a writer of label rows gives the copy, and the database
    carries later changes of the sample's score (migration 0020)."""
    return {
        "sample_id": sample_id,
        "dataset_id": dataset_id,
        "name": label.name,
        "type": label.type,
        "score": label.score,
        "property": label.property,
        "annotated_by": label.annotated_by,
        "sample_top_score": top_score,
    }


def insert_sample_rows(
    session: Session, samples: Sequence[dict[str, Any]], labels: Sequence[dict[str, Any]]
) -> None:
    """Insert rows from :func:`new_sample_rows` in the caller's transaction: one executemany
    per table (SQLite) or one ``COPY`` (PostgreSQL: :func:`~labelarts.storage.db.dialect.insert_rows`),
    not one ORM object each.
    The maintained counts (:mod:`labelarts.storage.db.counters`) get the whole batch as one
    delta per dataset, status and hard flag, and per label name and status."""
    insert_rows(session, _table(Sample), samples)
    insert_rows(session, _table(SampleLabel), labels)
    _count_rows(session, samples, labels)


def _count_rows(
    session: Session, samples: Sequence[dict[str, Any]], labels: Sequence[dict[str, Any]]
) -> None:
    """What :func:`counters.count_facts` would count for each new sample, summed per batch."""
    status_of = {sample["id"]: sample["sample_status"] for sample in samples}
    per_status: dict[str, Counter[tuple[str, bool]]] = {}
    for sample in samples:
        per_status.setdefault(sample["dataset_id"], Counter())[
            (sample["sample_status"], bool(sample["hard"]))
        ] += 1
    instances: dict[str, Counter[tuple[str, str]]] = {}
    carrying: dict[str, Counter[tuple[str, str]]] = {}
    seen: set[tuple[str, str]] = set()
    for label in labels:
        key = (label["name"], status_of[label["sample_id"]])
        instances.setdefault(label["dataset_id"], Counter())[key] += 1
        if (label["sample_id"], label["name"]) not in seen:  # a name twice on one sample: one sample
            seen.add((label["sample_id"], label["name"]))
            carrying.setdefault(label["dataset_id"], Counter())[key] += 1
    for dataset_id in per_status.keys() | instances.keys():
        rows = instances.get(dataset_id, Counter())
        holders = carrying.get(dataset_id, Counter())
        counters.add(
            session,
            dataset_id,
            samples=dict(per_status.get(dataset_id, Counter())),
            labels={key: (holders[key], n) for key, n in rows.items()},
        )


def _table(model: type[Sample] | type[SampleLabel]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def set_sample_labels(
    session: Session,
    sample: Sample,
    labels: Sequence[LabelInput],
    *,
    status: str | None = None,
    new: bool = False,
) -> None:
    """Replace the sample's labels; its status follows (no labels means unlabeled), and its
    ``revision`` is bumped. Labels and status are written together, in the caller's
    transaction, which holds the sample (:func:`lock_samples`) so no other writer interleaves.

    ``new``: the sample was inserted in this transaction and has no labels yet, so the
    per-sample DELETE is skipped (it halves the speed of labelled imports).
    """
    if not new:
        session.query(SampleLabel).filter(SampleLabel.sample_id == sample.id).delete()
    top_score = top_score_of(labels)
    for label in labels:
        session.add(
            SampleLabel(
                sample_id=sample.id,
                dataset_id=sample.dataset_id,
                name=label.name,
                type=label.type,
                score=label.score,
                property=label.property,
                annotated_by=label.annotated_by,
                sample_top_score=top_score,
            )
        )
    _follow_labels(sample, labels, status, bump=not new)


def _follow_labels(sample: Sample, labels: Sequence[LabelInput], status: str | None, *, bump: bool) -> None:
    """What a sample's row says of its new labels: top score, status (none: unlabeled), and
    (``bump``) its revision."""
    if bump:
        sample.revision = (sample.revision or 0) + 1
    sample.top_score = top_score_of(labels)
    sample.sample_status = (status or MANUAL) if labels else UNLABELED


def replace_sample_labels(session: Session, changes: Sequence[tuple[Sample, Sequence[LabelInput]]]) -> None:
    """:func:`set_sample_labels` for many distinct samples at once (a PUT of a page): one DELETE
    of their labels and one batched INSERT, instead of a flush and an ORM DELETE per sample
    (which made a 20-sample PUT cost ~30 ms of CPU). The same rows, statuses and revisions."""
    session.flush()  # what is pending is written first, as each per-sample DELETE's autoflush did
    for chunk in chunked([sample.id for sample, _ in changes]):
        session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(chunk)))
    rows: list[dict[str, Any]] = []
    for sample, labels in changes:
        top_score = top_score_of(labels)
        rows.extend(_label_row(sample.id, sample.dataset_id, label, top_score) for label in labels)
    if rows:  # in list order, so label ids rise as they did when each was added in turn
        session.execute(insert(_table(SampleLabel)), rows)
    for sample, labels in changes:
        _follow_labels(sample, labels, None, bump=True)


def labels_of(session: Session, sample_ids: Iterable[str]) -> dict[str, list[SampleLabel]]:
    ids = list(sample_ids)
    result: dict[str, list[SampleLabel]] = {i: [] for i in ids}
    for chunk in chunked(ids):
        rows = session.execute(
            select(SampleLabel).where(SampleLabel.sample_id.in_(chunk)).order_by(SampleLabel.id)
        ).scalars()
        for row in rows:
            result[row.sample_id].append(row)
    return result


LABEL_COLUMNS = (
    SampleLabel.sample_id,
    SampleLabel.id,
    SampleLabel.name,
    SampleLabel.type,
    SampleLabel.score,
    SampleLabel.property,
    SampleLabel.annotated_by,
)


class LabelRow(NamedTuple):
    """A row of :data:`LABEL_COLUMNS`. Rows are turned into named tuples because reading an
    attribute of a SQLAlchemy 2.1 ``Row`` costs ten times a tuple's, and an answer reads
    every attribute of every label."""

    sample_id: str
    id: int
    name: str
    type: int
    score: float | None
    property: dict[str, Any]
    annotated_by: str


# Built once per dialect: the statement of every list page (its ids bound as one list).
_LABEL_ROWS = {
    dialect: select(*LABEL_COLUMNS)
    .where(among_bound_ids(SampleLabel.sample_id, dialect))
    .order_by(SampleLabel.id)
    for dialect in ("sqlite", "postgresql")
}
assert all(tuple(statement.selected_columns.keys()) == LabelRow._fields for statement in _LABEL_ROWS.values())


def label_rows_of(session: Session | Connection, sample_ids: Sequence[str]) -> dict[str, list[LabelRow]]:
    """Like :func:`labels_of`, as plain rows (no ORM objects): what an answer needs, cheaply."""
    result: dict[str, list[LabelRow]] = {i: [] for i in sample_ids}
    make = LabelRow._make
    statement = _LABEL_ROWS[dialect_name_of(session)]
    for chunk in chunked(sample_ids):
        for row in session.execute(statement, {"ids": chunk}).all():
            label = make(row)
            result[label.sample_id].append(label)
    return result


def _label_cells(score: Any) -> tuple[Any, ...]:
    """What a page reads of each label as JSON: :class:`LabelRow`'s columns less the sample id,
    with ``score`` (the score as exact text) in place of the score."""
    return (
        SampleLabel.id,
        SampleLabel.name,
        SampleLabel.type,
        score,
        SampleLabel.property,
        SampleLabel.annotated_by,
    )


# PostgreSQL: a page's labels as one column of each sample row (dialect.json_rows_of); the score
# as text, which keeps NaN a float.
LABELS_AS_JSON = json_rows_of(
    _label_cells(cast(SampleLabel.score, Text)), SampleLabel.sample_id == Sample.id, SampleLabel.id
)


def label_rows_from_json(
    sample_id: str, rows: list[list[Any]] | None, *, property_as_text: bool = False
) -> list[LabelRow]:
    """The labels read as JSON for one sample (:func:`_label_cells`: :data:`LABELS_AS_JSON`, or
    :class:`SqliteJsonPage` with ``property_as_text``, the property being the JSON text it is
    stored as), as :func:`label_rows_of` reads them."""
    if rows is None:
        return []
    return [
        LabelRow(
            sample_id,
            id_,
            name,
            type_,
            None if score is None else float(score),
            loads_json(property_) if property_as_text else property_,
            annotated_by,
        )
        for id_, name, type_, score, property_, annotated_by in rows
    ]


@dataclass(frozen=True)
class SqliteJsonPage:
    """SQLite: a page's rows (:class:`PageRow`'s columns), each with its labels, read as one
    JSON text.

    Python's sqlite3 lets go of the GIL for every row a statement steps to: a page of 50 samples
    and their labels read as rows stepped some 110 times, and with other requests' threads
    waiting each step was a hand-over of the GIL (216 context switches per page under 8
    reviewers, against 48 on PostgreSQL; docs/benchmarks.md). As one value it is a single
    step. REALs travel as exact text (:func:`~labelarts.storage.db.dialect.sqlite_exact_real`),
    JSON columns as the text they are stored as; rows and labels come in no particular order.
    """

    statement: Select[str]
    readers: tuple[Any, ...]  # per column: how its JSON cell becomes what SQLAlchemy reads

    @classmethod
    def of(cls, page: Select[Any]) -> SqliteJsonPage:
        rows = page.subquery()
        labels = (
            select(
                func.json_group_array(func.json_array(*_label_cells(sqlite_exact_real(SampleLabel.score))))
            )
            .where(SampleLabel.sample_id == rows.c.id)
            .scalar_subquery()
        )
        cells = [sqlite_exact_real(column) if isinstance(column.type, Float) else column for column in rows.c]
        statement = select(func.json_group_array(func.json_array(*cells, func.json(labels))))
        return cls(statement, tuple(_cell_reader(column.type) for column in rows.c))

    def read(self, text: str) -> tuple[list[PageRow], dict[str, list[LabelRow]]]:
        """The rows as the plain page statement reads them (in no particular order), and each
        one's labels in :func:`label_rows_of`'s order."""
        readers = self.readers
        rows: list[PageRow] = []
        labels: dict[str, list[LabelRow]] = {}
        # orjson reads the whole text exactly: only strings and 64-bit integers are in it.
        for *cells, found in orjson.loads(text):
            row = PageRow._make(
                [cell if read is None else read(cell) for read, cell in zip(readers, cells, strict=True)]
            )
            rows.append(row)
            # json_group_array keeps no order: label_rows_of's is by label id.
            labels[row.id] = sorted(
                label_rows_from_json(row.id, found, property_as_text=True), key=operator.attrgetter("id")
            )
        return rows, labels


def _cell_reader(column_type: Any) -> Any:
    if isinstance(column_type, Float):
        return _real
    if isinstance(column_type, Boolean):
        return _boolean
    if isinstance(column_type, JSON):
        return _json
    return None


def _real(cell: str | None) -> float | None:
    return None if cell is None else float(cell)


def _boolean(cell: int | None) -> bool | None:
    return None if cell is None else bool(cell)


def _json(cell: str | None) -> Any:
    return None if cell is None else loads_json(cell)


class PageRow(NamedTuple):
    """A list page's sample row: ``query.ROW_COLUMNS`` and the sort key ``k``. A named tuple
    (like :class:`LabelRow`), as a page reads some 20 attributes of each of its samples."""

    id: str
    dataset_id: str
    sample_type: int
    sample_status: str
    sample_name: str
    sample_dir: str
    sample_size: int
    sample_time: int
    metadata_: dict[str, Any]
    hard: bool
    hard_coefficient: float | None
    import_origin: str | None
    labeler: str | None
    text: str | None
    source_kind: str
    source_key: str
    k: Any


def label_to_wire(label: SampleLabel | LabelRow) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(label.id),
        "name": label.name,
        "type": label.type,
        "property": dict(label.property),
        "annotated_by": label.annotated_by,
    }
    if label.score is not None:
        body["score"] = label.score
    return body


def sample_to_wire(
    sample: Sample | PageRow, labels: Sequence[SampleLabel | LabelRow], source: str
) -> dict[str, Any]:
    metadata = dict(sample.metadata_)
    metadata["@modelarts:hard"] = 1.0 if sample.hard else 0.0
    if sample.hard_coefficient is not None:
        metadata["@modelarts:hard_coefficient"] = sample.hard_coefficient
    if sample.import_origin is not None:
        metadata.setdefault("@modelarts:import_origin", 0)
    body: dict[str, Any] = {
        "sample_id": sample.id,
        "sample_type": sample.sample_type,
        "sample_status": WIRE_STATUS.get(sample.sample_status, "__NONE__"),
        "sample_name": sample.sample_name,
        "sample_dir": sample.sample_dir,
        "sample_size": sample.sample_size,
        "sample_time": sample.sample_time,
        "source": source,
        "labels": [label_to_wire(label) for label in labels],
        "metadata": metadata,
    }
    if sample.text is not None:
        body["sample_data"] = [sample.text]  # Array of strings in the reference
    hard_details = metadata.pop("@labelarts:hard_details", None)
    if hard_details:
        body["hard_details"] = hard_details
    if sample.labeler:
        body["labelers"] = [{"email": sample.labeler}]
    return body
