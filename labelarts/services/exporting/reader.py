"""Reading the samples an export task selects, page by page (keyset on the sample id), with
their labels: memory stays flat however large the dataset.

Selection (docs/export.md): ``export_type`` 0 labeled, 1 unlabeled, 2 or 3 all; then
``sample_state``; then the listed ``samples`` ids; then ``search_conditions``, ORed as the
reference says (each condition's keys ANDed, as in the sample list).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from sqlalchemy import ColumnElement, Table, false, func, or_, select

from labelarts.errors import ValidationFailedError
from labelarts.services.samples.query import STATE_TO_STATUS
from labelarts.services.samples.records import UNLABELED
from labelarts.services.samples.search import conditions_to_sql
from labelarts.storage.db import Database
from labelarts.storage.db.dialect import IN_LIST_CHUNK
from labelarts.storage.db.models import Sample, SampleLabel, VersionLabel, VersionSample

PAGE: Final = 500
# Label properties that mark hard examples (clear_hard_property removes them).
HARD_KEYS: Final = frozenset(
    {"@modelarts:hard", "@modelarts:hard_coefficient", "@modelarts:hard_reasons", "@labelarts:hard_details"}
)

SAMPLES = cast(Table, Sample.__table__)
LABELS = cast(Table, SampleLabel.__table__)
VERSION_SAMPLES = cast(Table, VersionSample.__table__)
VERSION_LABELS = cast(Table, VersionLabel.__table__)


@dataclass(frozen=True)
class Selection:
    """What an export task selects (from its config)."""

    dataset_id: str
    export_type: int | None = None
    # A published version: its frozen samples and labels instead of the live ones.
    version_id: str | None = None
    sample_state: str | None = None
    sample_ids: Sequence[str] | None = None
    conditions: Sequence[Mapping[str, Any]] = ()

    @property
    def table(self) -> Table:
        return SAMPLES if self.version_id is None else VERSION_SAMPLES

    @property
    def id_column(self) -> Any:
        return SAMPLES.c.id if self.version_id is None else VERSION_SAMPLES.c.sample_id

    def where(self) -> list[ColumnElement[bool]]:
        """The SQL conditions; 400 for an unknown ``sample_state`` or a bad search condition."""
        table = self.table
        where: list[ColumnElement[bool]] = (
            [SAMPLES.c.dataset_id == self.dataset_id]
            if self.version_id is None
            else [VERSION_SAMPLES.c.version_id == self.version_id]
        )
        status_column = table.c.sample_status
        if self.export_type == 0:
            where.append(status_column != UNLABELED)
        elif self.export_type == 1:
            where.append(status_column == UNLABELED)
        if self.sample_state:
            if self.sample_state not in STATE_TO_STATUS:
                raise ValidationFailedError(f"Unknown sample_state {self.sample_state!r}.")
            status = STATE_TO_STATUS[self.sample_state]
            where.append(false() if status is None else status_column == status)
        if self.conditions and self.version_id is not None:
            raise ValidationFailedError("search_conditions cannot be combined with version_id.")
        if self.conditions:
            clauses = conditions_to_sql(self.dataset_id, [dict(c) for c in self.conditions])
            where.append(or_(*clauses))
        return where


@dataclass(frozen=True)
class Row:
    """A selected sample and its labels, as plain rows of ``samples`` and ``sample_labels``
    (column names: ``row.sample.metadata``, not the model's ``metadata_``)."""

    sample: Any
    labels: Sequence[Any]


def count(db: Database, selection: Selection) -> int:
    where = selection.where()
    table, id_column = selection.table, selection.id_column
    with db.session() as session:
        if selection.sample_ids is None:
            return int(session.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
        total = 0
        for chunk in _id_chunks(selection.sample_ids):
            total += int(
                session.execute(
                    select(func.count()).select_from(table).where(*where, id_column.in_(chunk))
                ).scalar_one()
            )
        return total


def _id_chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), IN_LIST_CHUNK):
        yield ordered[start : start + IN_LIST_CHUNK]


def pages(db: Database, selection: Selection) -> Iterator[list[Row]]:
    """The selected samples in id order, :data:`PAGE` at a time, each page read in its own
    short transaction (a page is consistent; the export as a whole sees later changes)."""
    where = selection.where()
    id_column = selection.id_column
    if selection.sample_ids is not None:
        for chunk in _id_chunks(selection.sample_ids):
            page = _read(db, selection, [*where, id_column.in_(chunk)])
            if page:
                yield page
        return
    last: str | None = None
    while True:
        page = _read(db, selection, where if last is None else [*where, id_column > last])
        if not page:
            return
        yield page
        last = page[-1].sample.id
        if len(page) < PAGE:
            return


def _read(db: Database, selection: Selection, where: list[ColumnElement[bool]]) -> list[Row]:
    # Plain rows, not ORM objects: building 100,000 model instances costs more than the query.
    if selection.version_id is None:
        query = select(SAMPLES)
        labels_query = select(LABELS).order_by(LABELS.c.id)
        label_sample = LABELS.c.sample_id
    else:  # a version's rows, with the live table's column names (``id``)
        query = select(
            VERSION_SAMPLES.c.sample_id.label("id"),
            *(
                c
                for c in VERSION_SAMPLES.c
                if c.name not in ("sample_id", "version_id", "position", "stratum")
            ),
        )
        labels_query = select(VERSION_LABELS).where(VERSION_LABELS.c.version_id == selection.version_id)
        labels_query = labels_query.order_by(VERSION_LABELS.c.label_id)
        label_sample = VERSION_LABELS.c.sample_id
    with db.session() as session:
        samples = list(session.execute(query.where(*where).order_by(selection.id_column).limit(PAGE)))
        if not samples:
            return []
        by_sample: dict[str, list[Any]] = {s.id: [] for s in samples}
        labels = session.execute(labels_query.where(label_sample.in_(list(by_sample))))
        for label in labels:
            by_sample[label.sample_id].append(label)
    return [Row(s, by_sample[s.id]) for s in samples]


def subset_of(sample_id: str, seed: str, ratio: float) -> str:
    """ "train" or "val", the same for a sample every time with the same seed and ratio."""
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return "train" if int.from_bytes(digest[:8], "big") / 2**64 < ratio else "val"
