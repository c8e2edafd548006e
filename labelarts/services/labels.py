"""Dataset labels: create, modify, rename, delete (optionally with their samples)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labelarts.clock import now_ms
from labelarts.errors import LabelExistsError, LabelNotFoundError, ValidationFailedError
from labelarts.schemas.common import LabelIn, LabelName, normalize_label_name
from labelarts.services.ownership import get_owned_dataset
from labelarts.services.samples.records import bump_data_version
from labelarts.services.samples.sources import SampleFiles, SourceRow, unshared_sources
from labelarts.storage.db import Database
from labelarts.storage.db.dialect import is_unique_violation
from labelarts.storage.db.models import Dataset, Label, Sample, SampleLabel

RENAME_KEY = "@modelarts:rename_to"
LABEL_NAME_CONSTRAINT = "uq_label_dataset_name"
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


def new_labels(
    session: Session, dataset: Dataset, labels: Sequence[LabelIn], *, existing_ok: bool = False
) -> list[Label]:
    """Add labels to a dataset in the caller's transaction (shared by create dataset)."""
    names = [require_label_name(label) for label in labels]
    if len(set(names)) != len(names):
        raise LabelExistsError("The label list names a label twice.")
    present = set(
        session.execute(
            select(Label.name).where(Label.dataset_id == dataset.id, Label.name.in_(names))
        ).scalars()
    )
    if present and not existing_ok:
        raise LabelExistsError(f"Label already exists: {sorted(present)[0]}.")
    created = []
    for label, name in zip(labels, names, strict=True):
        if name in present:
            continue
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
    row = find_label(session, dataset.id, name, label_type)
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
        session.execute(
            update_rows(SampleLabel)
            .where(SampleLabel.dataset_id == dataset.id, SampleLabel.name == row.name)
            .values(name=new_name)
            .execution_options(synchronize_session=False)
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
    """Delete labels (and maybe the samples carrying only them), in the caller's transaction."""
    names = [r.name for r in rows]
    victims: list[SourceRow] = []
    if policy.delete_samples:
        # Samples whose every label is one of the deleted labels.
        other = select(SampleLabel.sample_id).where(
            SampleLabel.dataset_id == dataset.id, SampleLabel.name.not_in(names)
        )
        only = select(SampleLabel.sample_id).where(
            SampleLabel.dataset_id == dataset.id,
            SampleLabel.name.in_(names),
            SampleLabel.sample_id.not_in(other),
        )
        victims = [
            (sample_id, kind, key)
            for sample_id, kind, key in session.execute(
                select(Sample.id, Sample.source_kind, Sample.source_key).where(Sample.id.in_(only))
            )
        ]
        ids = [v[0] for v in victims]
        if ids:
            session.execute(delete(SampleLabel).where(SampleLabel.sample_id.in_(ids)))
            session.execute(delete(Sample).where(Sample.id.in_(ids)))
    # Remaining samples lose the label; those left with no label become unlabeled.
    touched = select(SampleLabel.sample_id).where(
        SampleLabel.dataset_id == dataset.id, SampleLabel.name.in_(names)
    )
    touched_ids = list(session.execute(touched).scalars())
    session.execute(
        delete(SampleLabel).where(SampleLabel.dataset_id == dataset.id, SampleLabel.name.in_(names))
    )
    if touched_ids:
        still = select(SampleLabel.sample_id).where(SampleLabel.sample_id.in_(touched_ids))
        session.execute(
            update_rows(Sample)
            .where(Sample.id.in_(touched_ids), Sample.id.not_in(still))
            .values(sample_status="UN_ANNOTATION", top_score=None)
            .execution_options(synchronize_session=False)
        )
    for row in rows:
        session.delete(row)
    dataset.update_time = dataset.data_update_time = now_ms()
    session.flush()
    bump_data_version(session, dataset.id)
    sources = unshared_sources(session, victims) if policy.delete_source else []
    return DeletedSamples(victims, sources)


def check_new_name(name: object) -> str:
    """A rename target follows the rules of a new label's name; 400 (not 500) otherwise."""
    try:
        return _LABEL_NAME.validate_python(name)
    except ValidationError as exc:
        reason = exc.errors()[0].get("msg", "invalid")
        raise ValidationFailedError(f"Invalid new label name ({RENAME_KEY}): {reason}") from None


def find_label(session: Session, dataset_id: str, name: str, label_type: int | None) -> Label:
    name = normalize_label_name(name)  # stored names are NFC: so is what looks them up
    if "\x00" in name:  # no label has one, and PostgreSQL refuses NUL in a query
        raise LabelNotFoundError(f"Label not found: {name[:128]}.")
    query = select(Label).where(Label.dataset_id == dataset_id, Label.name == name)
    if label_type is not None:
        query = query.where(Label.type == label_type)
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
        with label_names_stay_unique(), self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            new_labels(session, dataset, labels)
            dataset.update_time = dataset.data_update_time = now_ms()

    def update_labels(self, project_id: str, dataset_id: str, labels: Sequence[LabelIn]) -> None:
        """Modify labels in batches; ``@modelarts:rename_to`` renames (samples follow)."""
        if not labels:
            raise ValidationFailedError("labels must name at least one label.")
        with label_names_stay_unique(), self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
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
        with label_names_stay_unique(), self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            apply_label_update(session, dataset, label_name, update, label_type=label_type)
            dataset.update_time = dataset.data_update_time = now_ms()

    def delete_labels(
        self, project_id: str, dataset_id: str, labels: Sequence[LabelIn], policy: DeletePolicy
    ) -> None:
        if not labels:
            raise ValidationFailedError("labels must name at least one label.")
        with self._db.session() as session:
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
        with self._db.session() as session:
            dataset = get_owned_dataset(session, project_id, dataset_id)
            row = find_label(session, dataset.id, label_name, label_type)
            deleted = delete_label_rows(session, dataset, [row], DeletePolicy(True, delete_source))
        self._files.remove(project_id, dataset_id, deleted.rows, deleted.sources)
