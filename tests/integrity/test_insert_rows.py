"""Bulk inserts (``dialect.insert_rows``, PostgreSQL's ``COPY``) store exactly what a Core
``INSERT`` of the same rows stores, for the values an import can carry."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select

from labelarts.services.samples.records import LabelInput, insert_sample_rows, new_sample_rows
from labelarts.storage.db import Database
from labelarts.storage.db.models import Sample, SampleLabel
from tests.jobs import make_dataset, one_sample_rows

AWKWARD_TEXTS = [
    "plain.jpg",
    "tab\there.jpg",
    "new\nline.jpg",
    "back\\slash\\N.jpg",  # COPY's text format escapes \ and reads \N as NULL
    "\\N",
    "quote'and\"double.jpg",
    "数据标注 ünïcödé 🐱.jpg",
    "carriage\rreturn,comma;semicolon|pipe.jpg",
    "",
]


def rows_for(dataset_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    samples: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for i, name in enumerate(AWKWARD_TEXTS):
        sample, sample_labels = new_sample_rows(
            dataset_id,
            0,
            source_kind="local",
            source_key=f"/root/{i}/{name}",
            sample_name=name,
            sample_dir=name,
            sample_size=i * 1_000_003,
            sample_time=1_700_000_000_000 + i,
            metadata={
                "name": name,
                "nested": {"list": [1, 2.5, None, True, name], "big": 2**63 - 1 - i},
                "@modelarts:hard_reasons": [i, 31],
            },
            content_hash=None if i % 2 else f"{i:064x}",
            import_origin=None if i % 3 else "task-1",
            labels=[
                LabelInput(name=name or "x", type=0, score=None if i % 2 else 1 / (i + 3)),
                LabelInput(
                    name="dog\ttab", type=1, score=0.5, property={"@modelarts:shape": "bndbox", "k": name}
                ),
            ]
            if i % 4
            else [],
            status="MANUAL_ANNOTATION",
            hard=bool(i % 2),
            hard_coefficient=None if i % 2 else i / 7,
            text=name * 3 if i % 3 == 0 else None,
        )
        samples.append(sample)
        labels.extend(sample_labels)
    return samples, labels


def stored(db: Database, dataset_id: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every column of the dataset's samples and labels, but ids and the dataset."""
    skip = {"id", "dataset_id", "sample_id"}
    with db.session() as session:
        sample_columns = [c for c in Sample.__table__.columns if c.name not in skip]
        samples = session.execute(select(*sample_columns).where(Sample.dataset_id == dataset_id)).all()
        label_columns = [c for c in SampleLabel.__table__.columns if c.name not in skip]
        labels = session.execute(
            select(Sample.source_key, *label_columns)
            .join(Sample, Sample.id == SampleLabel.sample_id)
            .where(SampleLabel.dataset_id == dataset_id)
        ).all()
    return sorted(tuple(r[1:]) for r in samples), sorted(tuple(r[:2]) + tuple(r[3:]) for r in labels)


def test_bulk_inserted_rows_equal_an_insert_of_the_same_rows(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    bulk, core = make_dataset(db, "p" * 32), make_dataset(db, "p" * 32)
    with db.session(write=True) as session:
        insert_sample_rows(session, *rows_for(bulk))
    with db.session(write=True) as session:
        samples, labels = rows_for(core)
        session.execute(Sample.__table__.insert(), samples)
        session.execute(SampleLabel.__table__.insert(), labels)
    bulk_rows, core_rows = stored(db, bulk), stored(db, core)
    assert len(bulk_rows[0]) == len(AWKWARD_TEXTS) and len(bulk_rows[1]) == 12
    assert bulk_rows == core_rows
    with db.session() as session:
        names = set(session.execute(select(Sample.sample_name).where(Sample.dataset_id == bulk)).scalars())
        metadata = session.execute(select(Sample.metadata_).where(Sample.dataset_id == bulk)).scalars().all()
    assert names == set(AWKWARD_TEXTS)
    assert {m["nested"]["big"] for m in metadata} == {2**63 - 1 - i for i in range(len(AWKWARD_TEXTS))}
    db.dispose()


def test_a_nan_score_is_stored_as_an_insert_stores_it(database_url: str) -> None:
    db = Database(database_url)
    db.migrate()
    scores: dict[str, list[float | None]] = {}
    for how in ("bulk", "core"):
        dataset_id = make_dataset(db, "p" * 32)
        sample, labels = one_sample_rows(dataset_id, [LabelInput(name="cat", type=0, score=math.nan)])
        with db.session(write=True) as session:
            if how == "bulk":
                insert_sample_rows(session, [sample], labels)
            else:
                session.execute(Sample.__table__.insert(), [sample])
                session.execute(SampleLabel.__table__.insert(), labels)
        with db.session() as session:
            scores[how] = list(
                session.execute(
                    select(SampleLabel.score).where(SampleLabel.dataset_id == dataset_id)
                ).scalars()
            )
    assert [repr(s) for s in scores["bulk"]] == [repr(s) for s in scores["core"]]
    db.dispose()
