"""Integrity at any size and under concurrency (issue 8, section 2), on a real server.

Large datasets are generated straight into the database (:func:`bulk_samples`: a few seconds
for tens of thousands of rows); the operation under test always goes through the HTTP API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import func, insert, select

from labelarts.clock import now_ms
from labelarts.storage.db import counters
from labelarts.storage.db.models import Label, Sample, SampleLabel
from tests.api import World

__all__ = ["bulk_samples", "consistency_problems", "list_all_samples", "stored_samples"]


def bulk_samples(
    world: World,
    dataset_id: str,
    count: int,
    labels_of: Callable[[int], Sequence[str]],
    *,
    label_type: int = 0,
    status: str = "MANUAL_ANNOTATION",
) -> list[str]:
    """Insert ``count`` image samples with their labels (and the dataset's label rows) in a
    few multi-row statements; sample *i* carries ``labels_of(i)`` (with ``status``, or none and
    unlabeled). Returns the ids, in order."""
    now = now_ms()
    ids = [uuid.uuid4().hex for _ in range(count)]
    samples: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    names: set[str] = set()
    for i, sample_id in enumerate(ids):
        carried = list(labels_of(i))
        names.update(carried)
        samples.append(
            {
                "id": sample_id,
                "dataset_id": dataset_id,
                "sample_type": 0,
                "sample_status": status if carried else "UN_ANNOTATION",
                "sample_name": f"{sample_id}.jpg",
                "sample_dir": "",
                "source_kind": "object",
                "source_key": f"datasets/{dataset_id}/data/{sample_id}.jpg",
                "sample_size": 1,
                "sample_time": now + i,
                "metadata": {},
                "hard": False,
                "revision": 0,
            }
        )
        labels.extend(
            {
                "sample_id": sample_id,
                "dataset_id": dataset_id,
                "name": name,
                "type": label_type,
                "score": None,
                "property": {},
                "annotated_by": "modelarts/auto" if status == "AUTO_ANNOTATION" else "human/manual",
            }
            for name in carried
        )
    with world.services.db.session() as session:
        existing = set(session.execute(select(Label.name).where(Label.dataset_id == dataset_id)).scalars())
        for name in sorted(names - existing):
            session.add(Label(dataset_id=dataset_id, name=name, type=label_type, property={}, attributes=[]))
        # Core inserts (executemany), not ORM bulk inserts: several times faster.
        connection = session.connection()
        connection.execute(insert(Sample.__table__), samples)
        if labels:
            connection.execute(insert(SampleLabel.__table__), labels)
        counters.rebuild(session, dataset_id)  # rows written without the writers' hooks
    return ids


def stored_samples(world: World, dataset_id: str) -> dict[str, tuple[str, int, list[str]]]:
    """sample id -> (status, revision, sorted label names), read from the database."""
    with world.services.db.session() as session:
        rows = session.execute(
            select(Sample.id, Sample.sample_status, Sample.revision).where(Sample.dataset_id == dataset_id)
        ).all()
        carried: dict[str, list[str]] = {}
        for sample_id, name in session.execute(
            select(SampleLabel.sample_id, SampleLabel.name).where(SampleLabel.dataset_id == dataset_id)
        ):
            carried.setdefault(sample_id, []).append(name)
    return {
        sample_id: (status, revision, sorted(carried.get(sample_id, [])))
        for sample_id, status, revision in rows
    }


def label_table(world: World, dataset_id: str) -> set[str]:
    with world.services.db.session() as session:
        return set(session.execute(select(Label.name).where(Label.dataset_id == dataset_id)).scalars())


def sample_count(world: World, dataset_id: str) -> int:
    with world.services.db.session() as session:
        return int(
            session.execute(
                select(func.count()).select_from(Sample).where(Sample.dataset_id == dataset_id)
            ).scalar_one()
        )


def list_all_samples(world: World, dataset_id: str) -> list[dict[str, Any]]:
    """Every sample through the sample list API (pages of 100)."""
    found: list[dict[str, Any]] = []
    offset = 0
    while True:
        response = world.alice.aksk.get(
            world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"),
            params={"offset": offset, "limit": 100},
        )
        assert response.status_code == 200, response.text
        page = response.json()["samples"]
        found.extend(page)
        if len(page) < 100:
            return found
        offset += 1


def consistency_problems(world: World, dataset_id: str) -> list[str]:
    """What a user would find wrong, through the API: a sample whose status disagrees with
    its labels (``__ALL__`` iff it has labels), or statistics that disagree with the list."""
    samples = list_all_samples(world, dataset_id)
    problems = [
        f"{s['sample_id']}: {s['sample_status']} with labels {[label['name'] for label in s['labels']]}"
        for s in samples
        if (s["sample_status"] == "__ALL__") != bool(s["labels"])
        or s["sample_status"] not in ("__ALL__", "__NONE__")
    ]
    response = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/data-annotations/stats"))
    assert response.status_code == 200, response.text
    body = response.json()
    figures = body["sample_stats"]
    labeled = sum(1 for s in samples if s["labels"])
    expected = {"all": len(samples), "manual_annotation": labeled, "un_annotation": len(samples) - labeled}
    got = {key: figures[key] for key in expected}
    if got != expected:
        problems.append(f"statistics {got} but the sample list gives {expected}")
    per_label: dict[str, int] = {}
    for s in samples:
        for name in {label["name"] for label in s["labels"]}:
            per_label[name] = per_label.get(name, 0) + 1
    stated = {entry["name"]: entry["sample_count"] for entry in body["label_stats"] if entry["sample_count"]}
    if stated != per_label:
        problems.append(f"label statistics {stated} but the sample list gives {per_label}")
    return problems
