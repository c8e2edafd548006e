"""The import's batched insert path (Core executemany of plain rows) stores exactly what the
per-object ORM path stored, and an import that spans several batches keeps every sample's
hash, labels, scores and status, and the task's counts."""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import select

from labelarts.services.importing.runner import BATCH
from labelarts.services.samples.records import (
    AUTO,
    BY_AUTO,
    MANUAL,
    SAMPLE_DATA_MAX_CHARS,
    UNLABELED,
    LabelInput,
    insert_sample_rows,
    new_sample,
    new_sample_rows,
    set_sample_labels,
)
from labelarts.storage.db import counters
from labelarts.storage.db.models import Dataset, Sample, SampleLabel
from tests.api import World, unique_name
from tests.imports import create, jpeg, manifest_text, run_import, samples_of, world_fixture, write

world = world_fixture("batched")

# (labels, status, hard, hard_coefficient, text): every shape a batch row can take.
CASES: list[tuple[list[LabelInput], str, bool, float | None, str | None]] = [
    ([], MANUAL, False, None, None),
    ([LabelInput("cat", 0)], MANUAL, False, None, None),
    (
        [LabelInput("cat", 0, score=0.25), LabelInput("dog", 0, score=0.75, annotated_by=BY_AUTO)],
        AUTO,
        False,
        None,
        None,
    ),
    ([LabelInput("cat", 0, score=None, property={"color": "white"})], AUTO, True, 0.5, None),
    ([], AUTO, True, None, "x" * (SAMPLE_DATA_MAX_CHARS + 5)),
    ([LabelInput("text", 100, score=0.0)], MANUAL, False, 0.0, "short text"),
]
SAMPLE_COLUMNS = [c.key for c in Sample.__table__.columns if c.key not in ("id", "dataset_id")]
LABEL_COLUMNS = ["name", "type", "score", "property", "annotated_by"]


def _dataset(world: World) -> Dataset:
    dataset_id = create(world, 0)
    with world.services.db.session() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        return dataset


def _stored(world: World, dataset_id: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    with world.services.db.session() as session:
        samples = session.execute(
            select(Sample).where(Sample.dataset_id == dataset_id).order_by(Sample.source_key)
        ).scalars()
        stored = []
        for sample in samples:
            labels = session.execute(
                select(SampleLabel).where(SampleLabel.sample_id == sample.id).order_by(SampleLabel.id)
            ).scalars()
            stored.append(
                (
                    {c: getattr(sample, "metadata_" if c == "metadata" else c) for c in SAMPLE_COLUMNS},
                    [
                        {c: getattr(label, c) for c in LABEL_COLUMNS} | {"ds": label.dataset_id}
                        for label in labels
                    ],
                )
            )
    return stored


def test_rows_equal_what_the_orm_path_stores(world: World) -> None:
    by_orm, by_rows = _dataset(world), _dataset(world)
    common: dict[str, Any] = {
        "source_kind": "local",
        "sample_dir": "/imports/x/",
        "sample_size": 123,
        "sample_time": 1_700_000_000_000,
        "metadata": {"@modelarts:import_origin": 0, "@modelarts:size": [24, 16, 3]},
        "import_origin": "t" * 32,
    }
    with world.services.db.session() as session:
        for i, (labels, status, hard, coefficient, text) in enumerate(CASES):
            sample = new_sample(
                by_orm,
                source_key=f"/imports/x/{i}.jpg",
                sample_name=f"{i}.jpg",
                content_hash=f"{i:064x}",
                text=text,
                **common,
            )
            sample.hard = hard
            sample.hard_coefficient = coefficient
            session.add(sample)
            if labels:
                set_sample_labels(session, sample, labels, status=status, new=True)
        session.flush()
    samples: list[dict[str, Any]] = []
    label_rows: list[dict[str, Any]] = []
    for i, (labels, status, hard, coefficient, text) in enumerate(CASES):
        sample_row, sample_labels = new_sample_rows(
            by_rows.id,
            by_rows.dataset_type,
            source_key=f"/imports/x/{i}.jpg",
            sample_name=f"{i}.jpg",
            content_hash=f"{i:064x}",
            labels=labels,
            status=status,
            hard=hard,
            hard_coefficient=coefficient,
            text=text,
            **common,
        )
        samples.append(sample_row)
        label_rows.extend(sample_labels)
    with world.services.db.session() as session:
        insert_sample_rows(session, samples, label_rows)
    with world.services.db.session() as session:  # both paths counted what they inserted
        assert counters.stored(session, by_rows.id) == counters.recount(session, by_rows.id)

    orm, rows = _stored(world, by_orm.id), _stored(world, by_rows.id)
    assert len(orm) == len(rows) == len(CASES)
    for (orm_sample, orm_labels), (row_sample, row_labels) in zip(orm, rows, strict=True):
        assert row_sample == orm_sample
        assert [label | {"ds": None} for label in row_labels] == [
            label | {"ds": None} for label in orm_labels
        ]
        assert all(label["ds"] == by_rows.id for label in row_labels)
    assert [s["sample_status"] for s, _ in rows] == [UNLABELED, MANUAL, AUTO, AUTO, UNLABELED, MANUAL]
    assert [s["top_score"] for s, _ in rows] == [None, None, 0.75, None, None, 0.0]


def test_an_import_over_several_batches_keeps_every_sample_as_the_manifest_says(world: World) -> None:
    root = world.imports / unique_name("batched")
    count = 2 * BATCH + 137  # three batches, the last one partial
    images = {f"img/{i:05d}.jpg": jpeg(i) for i in range(count)}
    images["img/copy.jpg"] = images["img/00007.jpg"]  # the same content under another name
    write(root, images)
    names = ["cat", "dog", "bird"]
    lines: list[Any] = []
    expected: dict[str, tuple[list[tuple[str, float | None]], bool]] = {}
    for i in range(count):
        annotation = []
        if i % 5:  # every fifth line has no annotation
            annotation = [
                {
                    "type": "modelarts/image_classification",
                    "name": names[i % 3],
                    "confidence": round(i / count, 4),
                    "annotated-by": "modelarts/active-learning",
                }
            ]
            if i % 7 == 0:  # and some carry a second label without a score
                annotation.append({"type": "image_classification", "name": names[(i + 1) % 3]})
        line: dict[str, Any] = {"source": f"img/{i:05d}.jpg", "annotation": annotation}
        if i % 11 == 0:
            line["hard"] = "true"
        lines.append(line)
        expected[f"{i:05d}.jpg"] = (
            sorted((a["name"], a.get("confidence")) for a in annotation),
            i % 11 == 0,
        )
    lines.insert(BATCH + 3, {"source": "img/00010.jpg"})  # listed twice: skipped
    lines.append({"source": "img/copy.jpg", "annotation": [{"type": "image_classification", "name": "x"}]})
    write(root, {"all.manifest": manifest_text(lines)})
    dataset_id = create(world, 0)

    task = run_import(
        world, dataset_id, root / "all.manifest", import_type="manifest", final_annotation=False
    )

    rows = samples_of(world, dataset_id)
    assert sorted(rows) == sorted(expected)
    for name, (labels, hard) in expected.items():
        row = rows[name]
        sample = row.sample
        content = images[f"img/{name}"]
        assert sample.content_hash == hashlib.sha256(content).hexdigest()
        assert sample.sample_size == len(content)
        assert sorted((label.name, label.score) for label in row.labels) == labels
        scores = [score for _, score in labels if score is not None]
        assert sample.top_score == (max(scores) if scores else None)
        assert sample.sample_status == (AUTO if labels else UNLABELED)
        assert sample.hard is hard
        assert sample.revision == 0
        assert sample.metadata_["@modelarts:size"] == [24, 16, 3]
        for label in row.labels:
            assert label.annotated_by == ("auto" if label.score is not None else "human")
    assert len({row.sample.import_origin for row in rows.values()}) == 1
    annotated = sum(1 for labels, _ in expected.values() if labels)
    assert task["imported_sample_count"] == count
    assert task["annotated_sample_count"] == annotated
    assert task["unconfirmed_sample_count"] == annotated
    assert task["skipped_reasons"] == {"duplicate": 2}
    assert task["failed_files"] == []
    with world.services.db.session() as session:  # the batch's counter deltas: exact
        assert counters.stored(session, dataset_id) == counters.recount(session, dataset_id)
        assert counters.stored(session, dataset_id).samples == {
            ("AUTO_ANNOTATION", False): sum(1 for labels, hard in expected.values() if labels and not hard),
            ("AUTO_ANNOTATION", True): sum(1 for labels, hard in expected.values() if labels and hard),
            ("UN_ANNOTATION", False): sum(1 for labels, hard in expected.values() if not labels and not hard),
            ("UN_ANNOTATION", True): sum(1 for labels, hard in expected.values() if not labels and hard),
        }

    again = run_import(world, dataset_id, root / "all.manifest", import_type="manifest")
    assert again["imported_sample_count"] == 0
    assert again["skipped_reasons"] == {"duplicate": len(lines)}
    assert len(samples_of(world, dataset_id)) == count
    with world.services.db.session() as session:
        assert counters.stored(session, dataset_id) == counters.recount(session, dataset_id)
