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
from labelarts.storage.db.models import Sample, SampleLabel

PAGE: Final = 500
# Label properties that mark hard examples (clear_hard_property removes them).
HARD_KEYS: Final = frozenset(
    {"@modelarts:hard", "@modelarts:hard_coefficient", "@modelarts:hard_reasons", "@labelarts:hard_details"}
)


@dataclass(frozen=True)
class Selection:
    """What an export task selects (from its config)."""

    dataset_id: str
    export_type: int | None = None
    sample_state: str | None = None
    sample_ids: Sequence[str] | None = None
    conditions: Sequence[Mapping[str, Any]] = ()

    def where(self) -> list[ColumnElement[bool]]:
        """The SQL conditions; 400 for an unknown ``sample_state`` or a bad search condition."""
        where: list[ColumnElement[bool]] = [Sample.dataset_id == self.dataset_id]
        if self.export_type == 0:
            where.append(Sample.sample_status != UNLABELED)
        elif self.export_type == 1:
            where.append(Sample.sample_status == UNLABELED)
        if self.sample_state:
            if self.sample_state not in STATE_TO_STATUS:
                raise ValidationFailedError(f"Unknown sample_state {self.sample_state!r}.")
            status = STATE_TO_STATUS[self.sample_state]
            where.append(false() if status is None else Sample.sample_status == status)
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
    with db.session() as session:
        if selection.sample_ids is None:
            return int(session.execute(select(func.count()).select_from(Sample).where(*where)).scalar_one())
        total = 0
        for chunk in _id_chunks(selection.sample_ids):
            total += int(
                session.execute(
                    select(func.count()).select_from(Sample).where(*where, Sample.id.in_(chunk))
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
    if selection.sample_ids is not None:
        for chunk in _id_chunks(selection.sample_ids):
            page = _read(db, [*where, Sample.id.in_(chunk)])
            if page:
                yield page
        return
    last: str | None = None
    while True:
        page = _read(db, where if last is None else [*where, Sample.id > last])
        if not page:
            return
        yield page
        last = page[-1].sample.id
        if len(page) < PAGE:
            return


SAMPLES = cast(Table, Sample.__table__)
LABELS = cast(Table, SampleLabel.__table__)


def _read(db: Database, where: list[ColumnElement[bool]]) -> list[Row]:
    # Plain rows, not ORM objects: building 100,000 model instances costs more than the query.
    with db.session() as session:
        samples = list(session.execute(select(SAMPLES).where(*where).order_by(Sample.id).limit(PAGE)))
        if not samples:
            return []
        by_sample: dict[str, list[Any]] = {s.id: [] for s in samples}
        labels = session.execute(
            select(LABELS).where(LABELS.c.sample_id.in_(list(by_sample))).order_by(LABELS.c.id)
        )
        for label in labels:
            by_sample[label.sample_id].append(label)
    return [Row(s, by_sample[s.id]) for s in samples]


def subset_of(sample_id: str, seed: str, ratio: float) -> str:
    """ "train" or "val", the same for a sample every time with the same seed and ratio."""
    digest = hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()
    return "train" if int.from_bytes(digest[:8], "big") / 2**64 < ratio else "val"
