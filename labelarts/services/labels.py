"""Dataset labels: create, modify, rename, delete (optionally with their samples).

Renames and deletes are set-based (one statement per :data:`IN_LIST_CHUNK` label names,
however many samples carry them) and bump the ``revision`` of every sample they change. They
take the write lock first (SQLite), then lock the labels and the samples carrying them in a
stable order (PostgreSQL): labels by name, then samples by id, as every writer does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import ColumnElement, and_, case, delete, exists, func, select
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelarts.clock import now_ms
from labelarts.errors import BusyError, LabelExistsError, LabelNotFoundError, ValidationFailedError
from labelarts.schemas.common import LabelIn, LabelName, normalize_label_name
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.samples.records import UNLABELED, bump_data_version, lock_sample_ids
from labelarts.services.samples.sources import SampleFiles, SourceRow, unshared_sources
from labelarts.storage.db import Database, counters
from labelarts.storage.db.dialect import (
    begin_write,
    chunked,
    insert_missing_rows,
    is_unique_violation,
    lock_rows_in_order,
    uses_row_locks,
)
from labelarts.storage.db.models import Dataset, Label, Sample, SampleLabel

RENAME_KEY = "@modelarts:rename_to"
LABEL_NAME_CONSTRAINT = "uq_label_dataset_name"
# share_or_create_labels: rounds of insert-then-share a name may take while others delete it.
CREATE_LABEL_ROUNDS = 8
_LABEL_NAME: TypeAdapter[str] = TypeAdapter(LabelName)

# Label type each dataset type uses when a label arrives without one.
DEFAULT_LABEL_TYPE = {
    0: 0,
    1: 1,
    3: 3,
    100: 100,
    101: 101,
    102: 103,
    200: 200,
    201: 201,
    202: 202,
    600: 600,
}


@dataclass(frozen=True)
class DeletePolicy:
    delete_samples: bool
    delete_source: bool


@contextmanager
def label_names_stay_unique() -> Iterator[None]:
    """The name check and the write are not atomic; when two requests race for one name the
    unique constraint decides at commit, and the loser gets 4411 instead of a 500."""
    try:
        yield
    except IntegrityError as exc:
        if not is_unique_violation(exc, LABEL_NAME_CONSTRAINT, "labels"):
            raise
        raise LabelExistsError("Label already exists (added by a concurrent request).") from None


def label_to_dict(label: Label) -> dict[str, Any]:
    return {
        "name": label.name,
        "type": label.type,
        "property": dict(label.property),
        "attributes": list(label.attributes),
    }


def default_label_type(dataset_type: int) -> int:
    return DEFAULT_LABEL_TYPE.get(dataset_type, 0)


def new_labels(session: Session, dataset: Dataset, labels: Sequence[LabelIn]) -> list[Label]:
    """Add labels to a dataset in the caller's transaction (shared by create dataset)."""
    names = [require_label_name(label) for label in labels]
    if len(set(names)) != len(names):
        raise LabelExistsError("The label list names a label twice.")
    present: set[str] = set()
    for chunk in chunked(names):
        present.update(
            session.execute(
                select(Label.name).where(Label.dataset_id == dataset.id, Label.name.in_(chunk))
            ).scalars()
        )
    if present:
        raise LabelExistsError(f"Label already exists: {sorted(present)[0]}.")
    created = []
    for label, name in zip(labels, names, strict=True):
        prop = dict(label.property or {})
        prop.pop(RENAME_KEY, None)
        row = Label(
            dataset_id=dataset.id,
            name=name,
            type=label.type if label.type is not None else default_label_type(dataset.dataset_type),
            property=prop,
            attributes=[a.model_dump(exclude_none=True) for a in label.attributes or []],
        )
        session.add(row)
        created.append(row)
    session.flush()
    return created


def share_labels(session: Session, dataset_id: str, names: Sequence[str]) -> dict[str, int]:
    """Name -> type of the dataset's labels among ``names``; on PostgreSQL they stay locked
    ``FOR SHARE`` (in name order) until the transaction ends. A writer that puts labels on
    samples calls this before locking samples: a concurrent delete or rename of one of the
    labels then waits for it, or it sees the label gone and creates it anew, so no sample
    carries a label the dataset no longer has."""
    found: dict[str, int] = {}
    locking = uses_row_locks(session)
    for chunk in chunked(sorted(set(names))):
        query = (
            select(Label.name, Label.type)
            .where(Label.dataset_id == dataset_id, Label.name.in_(chunk))
            .order_by(Label.name)
        )
        if locking:
            query = query.with_for_update(read=True)
        found.update((name, label_type) for name, label_type in session.execute(query))
    return found


def share_or_create_labels(session: Session, dataset_id: str, types: Mapping[str, int]) -> dict[str, int]:
    """:func:`share_labels` for the names of ``types``, first creating those the dataset lacks
    (with ``types[name]``; a row a concurrent request inserts first is kept as it is, type and
    all). A writer that puts these names on samples needs the rows to exist: a rename of
    another label to one of these names then conflicts with them (4411) instead of counting
    this writer's samples as carriers of its new name a second time.

    No unique-constraint error can come of a race (``ON CONFLICT DO NOTHING``). A row another
    request inserted first can be deleted by a third before this one shares it; the name is
    then inserted again, a few times at most (each round needs a new delete to lose).
    """
    shared = share_labels(session, dataset_id, list(types))
    missing = sorted(name for name in types if name not in shared)
    for _round in range(CREATE_LABEL_ROUNDS):
        if not missing:
            return shared
        rows = [
            {"dataset_id": dataset_id, "name": name, "type": types[name], "property": {}, "attributes": []}
            for name in missing
        ]
        insert_missing_rows(session, Label, ("dataset_id", "name"), rows)
        shared.update(share_labels(session, dataset_id, missing))
        missing = [name for name in missing if name not in shared]
    if missing:
        raise BusyError(
            f"Label {missing[0][:128]!r} was deleted {CREATE_LABEL_ROUNDS} times while this request "
            "created it. Nothing was written; try again."
        )
    return shared


def require_label_name(label: LabelIn) -> str:
    if not label.name:
        raise ValidationFailedError("Every label needs a name.")
    return label.name


def apply_label_update(
    session: Session,
    dataset: Dataset,
    name: str,
    update: LabelIn,
    *,
    label_type: int | None,
) -> None:
    """Change one label in the caller's transaction; a rename carries its samples along (and
    bumps their revision)."""
    begin_write(session)
    row = find_label(session, dataset.id, name, label_type, lock=True)
    prop = dict(update.property or {})
    new_name = prop.pop(RENAME_KEY, None)
    if prop:
        row.property = {**row.property, **prop}
    if update.attributes is not None:
        row.attributes = [a.model_dump(exclude_none=True) for a in update.attributes]
    if new_name is not None and new_name != row.name:
        new_name = check_new_name(new_name)
        clash = session.execute(
            select(Label.id).where(Label.dataset_id == dataset.id, Label.name == new_name)
        ).first()
        if clash:
            raise LabelExistsError(f"Label already exists: {new_name}.")
        lock_label_holders(session, dataset.id, [row.name])
        carriers = select(SampleLabel.sample_id).where(
            SampleLabel.dataset_id == dataset.id, SampleLabel.name == row.name
        )
        # No sample carries the new name (labels on samples are the dataset's labels), so the
        # carriers of the new name afterwards are those of the old one now.
        counters.uncount_where(session, dataset.id, Sample.id.in_(carriers))
        session.execute(
            update_rows(Sample)
            .where(Sample.dataset_id == dataset.id, Sample.id.in_(carriers))
            .values(revision=Sample.revision + 1)
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update_rows(SampleLabel)
            .where(SampleLabel.dataset_id == dataset.id, SampleLabel.name == row.name)
            .values(name=new_name)
            .execution_options(synchronize_session=False)
        )
        counters.count_where(
            session,
            dataset.id,
            Sample.id.in_(
                select(SampleLabel.sample_id).where(
                    SampleLabel.dataset_id == dataset.id, SampleLabel.name == new_name
                )
            ),
        )
        row.name = new_name
        bump_data_version(session, dataset.id)


@dataclass(frozen=True)
class DeletedSamples:
    """Samples a label deletion removed, and the sources to remove after the commit."""

    rows: list[SourceRow]
    sources: list[tuple[str, str]]


def delete_label_rows(
    session: Session, dataset: Dataset, rows: Sequence[Label], policy: DeletePolicy
) -> DeletedSamples:
    """Delete labels (and maybe the samples carrying only them), in the caller's transaction.

    Set-based, a chunk of label names at a time: a label carried by any number of samples is
    a few statements. Handling the names chunk by chunk gives the same result as all at once
    (a sample whose labels are all deleted goes, or becomes unlabeled, in the chunk that takes
    its last label). A label a concurrent request deleted first is a 400 (4410).
    """
    begin_write(session)
    names = sorted({r.name for r in rows})
    locked = lock_labels(session, dataset.id, names)
    gone = [name for name in names if name not in locked]
    if gone:
        raise LabelNotFoundError(f"Label not found: {gone[0][:128]}.")
    lock_label_holders(session, dataset.id, names)
    victims: list[SourceRow] = []
    in_dataset = Sample.dataset_id == dataset.id
    for chunk in chunked(names):
        carriers = select(SampleLabel.sample_id).where(
            SampleLabel.dataset_id == dataset.id, SampleLabel.name.in_(chunk)
        )
        carries = Sample.id.in_(carriers)
        keeps_other = exists().where(SampleLabel.sample_id == Sample.id, SampleLabel.name.not_in(chunk))
        _uncount_label_deletion(session, dataset.id, chunk, carries, keeps_other, policy)
        if policy.delete_samples:
            # Samples whose every label is being deleted go. Their ids are needed anyway (their
            # files go after the commit); deleting by id, labels first, is several times
            # faster than one DELETE whose foreign keys cascade row by row.
            going = session.execute(
                select(Sample.id, Sample.source_kind, Sample.source_key).where(
                    in_dataset, carries, ~keeps_other
                )
            ).all()
            victims.extend((sample_id, kind, key) for sample_id, kind, key in going)
            for id_chunk in chunked(sorted(row[0] for row in going)):
                session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(id_chunk)))
                session.execute(
                    delete(Sample).where(Sample.id.in_(id_chunk)).execution_options(synchronize_session=False)
                )
        # The others lose the labels: top score from the labels they keep, unlabeled if none.
        kept_score = (
            select(func.max(SampleLabel.score))
            .where(SampleLabel.sample_id == Sample.id, SampleLabel.name.not_in(chunk))
            .scalar_subquery()
        )
        session.execute(
            update_rows(Sample)
            .where(in_dataset, carries)
            .values(
                revision=Sample.revision + 1,
                top_score=kept_score,
                sample_status=case((keeps_other, Sample.sample_status), else_=UNLABELED),
            )
            .execution_options(synchronize_session=False)
        )
        session.execute(
            delete(SampleLabel)
            .where(SampleLabel.dataset_id == dataset.id, SampleLabel.name.in_(chunk))
            .execution_options(synchronize_session=False)
        )
    for label_ids in chunked(sorted(label.id for label in locked.values())):
        session.execute(
            delete(Label).where(Label.id.in_(label_ids)).execution_options(synchronize_session=False)
        )
    for label in locked.values():
        session.expunge(label)
    dataset.update_time = dataset.data_update_time = now_ms()
    session.flush()
    bump_data_version(session, dataset.id)
    sources = unshared_sources(session, victims) if policy.delete_source else []
    return DeletedSamples(victims, sources)


def _uncount_label_deletion(
    session: Session,
    dataset_id: str,
    names: Sequence[str],
    carries: ColumnElement[bool],
    keeps_other: ColumnElement[bool],
    policy: DeletePolicy,
) -> None:
    """The counter deltas of deleting labels ``names``, read before the deletion: their
    instances go; the samples carrying nothing else go (``delete_samples``) or become
    unlabeled; samples that keep another label keep their status, so their other labels'
    counts stay."""
    in_dataset = Sample.dataset_id == dataset_id
    lonely = counters.measure(session, and_(in_dataset, carries, ~keeps_other)).samples
    moved: dict[tuple[str, bool], int] = {key: -n for key, n in lonely.items()}
    if not policy.delete_samples:
        for (_, hard), n in lonely.items():
            moved[(UNLABELED, hard)] = moved.get((UNLABELED, hard), 0) + n
    wanted = set(names)
    labels = counters.measure(session, and_(in_dataset, carries)).labels
    counters.add(
        session,
        dataset_id,
        samples=moved,
        labels={
            (name, status): (-carrying, -instances)
            for (name, status), (carrying, instances) in labels.items()
            if name in wanted
        },
    )


def lock_labels(session: Session, dataset_id: str, names: Sequence[str]) -> dict[str, Label]:
    """The dataset's labels with these names, read fresh and (PostgreSQL) locked ``FOR
    UPDATE`` in name order until the transaction ends."""
    return lock_rows_in_order(session, Label, Label.name, names, Label.dataset_id == dataset_id)


def lock_label_holders(session: Session, dataset_id: str, names: Sequence[str]) -> None:
    """Lock (PostgreSQL, ``FOR UPDATE`` in id order) every sample carrying one of the labels,
    before a set-based statement changes them: the set-based UPDATE alone would lock them in
    scan order and could deadlock with a sample edit, which locks in id order. Call it with the
    labels locked, so no sample gains one of them meanwhile."""
    if not uses_row_locks(session):
        return
    carriers: set[str] = set()
    for chunk in chunked(sorted(set(names))):
        carriers.update(
            session.execute(
                select(SampleLabel.sample_id)
                .where(SampleLabel.dataset_id == dataset_id, SampleLabel.name.in_(chunk))
                .distinct()
            ).scalars()
        )
    lock_sample_ids(session, carriers)


def check_new_name(name: object) -> str:
    """A rename target follows the rules of a new label's name; 400 (not 500) otherwise."""
    try:
        return _LABEL_NAME.validate_python(name)
    except ValidationError as exc:
        reason = exc.errors()[0].get("msg", "invalid")
        raise ValidationFailedError(f"Invalid new label name ({RENAME_KEY}): {reason}") from None


def find_label(
    session: Session, dataset_id: str, name: str, label_type: int | None, *, lock: bool = False
) -> Label:
    """The label, or a 400 (4410). ``lock``: read it fresh and lock it ``FOR UPDATE`` (PostgreSQL)."""
    name = normalize_label_name(name)  # stored names are NFC: so is what looks them up
    if "\x00" in name:  # no label has one, and PostgreSQL refuses NUL in a query
        raise LabelNotFoundError(f"Label not found: {name[:128]}.")
    query = select(Label).where(Label.dataset_id == dataset_id, Label.name == name)
    if label_type is not None:
        query = query.where(Label.type == label_type)
    if lock:
        query = query.execution_options(populate_existing=True)
        if uses_row_locks(session):
            query = query.with_for_update()
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise LabelNotFoundError(f"Label not found: {name[:128]}.")
    return row


class LabelService:
    def __init__(self, db: Database, files: SampleFiles) -> None:
        self._db = db
        self._files = files

    def list_labels(
        self, project_id: str, dataset_id: str, *, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        with self._db.session() as session:
            get_owned_dataset(session, project_id, dataset_id)
            total = session.execute(
                select(func.count()).select_from(Label).where(Label.dataset_id == dataset_id)
            ).scalar_one()
            rows = session.execute(
                select(Label)
                .where(Label.dataset_id == dataset_id)
                .order_by(Label.id)
                .offset(offset * limit)
                .limit(limit)
            ).scalars()
            return [label_to_dict(r) for r in rows], int(total)

    def create_labels(self, project_id: str, dataset_id: str, labels: Sequence[LabelIn]) -> None:
        if not labels:
            raise ValidationFailedError("labels must name at least one label.")
        with label_names_stay_unique(), self._db.session(write=True) as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            new_labels(session, dataset, labels)
            dataset.update_time = dataset.data_update_time = now_ms()

    def update_labels(self, project_id: str, dataset_id: str, labels: Sequence[LabelIn]) -> None:
        """Modify labels in batches; ``@modelarts:rename_to`` renames (samples follow)."""
        if not labels:
            raise ValidationFailedError("labels must name at least one label.")
        with label_names_stay_unique(), self._db.session(write=True) as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            # Every label of the batch, then the samples of those renamed, in the lock order.
            lock_labels(session, dataset.id, [require_label_name(label) for label in labels])
            renamed = [label.name for label in labels if label.name and RENAME_KEY in (label.property or {})]
            lock_label_holders(session, dataset.id, renamed)
            for label in labels:
                apply_label_update(session, dataset, require_label_name(label), label, label_type=None)
            dataset.update_time = dataset.data_update_time = now_ms()

    def update_label(
        self,
        project_id: str,
        dataset_id: str,
        label_name: str,
        properties: dict[str, Any],
        *,
        label_type: int | None,
    ) -> None:
        # The path name is only looked up: a name no label could have is "not found" (400
        # 4410), not a validation failure of the request.
        update = LabelIn.model_validate({"property": properties})
        with label_names_stay_unique(), self._db.session(write=True) as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            apply_label_update(session, dataset, label_name, update, label_type=label_type)
            dataset.update_time = dataset.data_update_time = now_ms()

    def delete_labels(
        self, project_id: str, dataset_id: str, labels: Sequence[LabelIn], policy: DeletePolicy
    ) -> None:
        if not labels:
            raise ValidationFailedError("labels must name at least one label.")
        with self._db.session(write=True) as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            rows = [find_label(session, dataset.id, require_label_name(x), x.type) for x in labels]
            deleted = delete_label_rows(session, dataset, rows, policy)
        self._files.remove(project_id, dataset_id, deleted.rows, deleted.sources)

    def delete_label_and_samples(
        self,
        project_id: str,
        dataset_id: str,
        label_name: str,
        *,
        label_type: int | None,
        delete_source: bool,
    ) -> None:
        with self._db.session(write=True) as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            row = find_label(session, dataset.id, label_name, label_type)
            deleted = delete_label_rows(session, dataset, [row], DeletePolicy(True, delete_source))
        self._files.remove(project_id, dataset_id, deleted.rows, deleted.sources)
