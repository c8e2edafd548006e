"""How a list page reads the database (SampleListService.list_samples): on PostgreSQL first
without a snapshot, in two statements that each read the dataset's version (the rows with their
labels as one JSON column), then again in a snapshot when the versions differ; on SQLite in a
snapshot, the page's rows and labels as one JSON value. The answers must be those of the plain
snapshot read of rows and then labels, every field alike, and a change between the two reads
must not mix two states in one answer."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from labelarts.schemas.samples import UpdateSamplesRequest
from labelarts.services.samples import query as query_module
from labelarts.services.samples.records import AUTO, bump_data_version
from labelarts.storage.db import counters, dialect
from labelarts.storage.db.models import Sample, SampleLabel
from tests.api import World, shared_world, unique_name
from tests.conftest import create_dataset
from tests.conftest import test_database_kind as database_kind

# Labels whose every field must come back as the snapshot read gives it: scores a JSON
# encoder could round or refuse, properties with nesting, unicode, big integers and nulls.
ODD_LABELS: list[tuple[str, int, float | None, dict[str, Any]]] = [
    ("cat", 0, 0.1 + 0.2, {}),
    ("dog", 0, 1e-300, {"@modelarts:hard": 1, "note": 'snow ❄ \\ " \t'}),
    ("bird", 1, None, {"nested": {"a": [1, 2.5, None, True]}, "big": 2**70}),
    ("ship", 0, 0.123456789012345678, {"x": -0.0}),
    ("horse", 2, float("nan"), {}),
    ("frog", 0, 1.0, {"unicode": "猫"}),
]


# Doubles whose exact text needs 17 digits, and extremes (hard coefficients).
ODD_REALS: list[float | None] = [None, 0.1 + 0.2, 1e-300, 1.7976931348623157e308, 5e-324, 1 / 3]


@pytest.fixture
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("page-reads")) as world:
        yield world


def insert_samples(world: World, dataset_id: str, count: int) -> list[str]:
    """Machine-labeled samples (two labels each, some with none) straight into the database."""
    ids = []
    with world.services.db.session() as session:
        for i in range(count):
            sample_id = f"s{i:04d}{dataset_id[:6]}"
            ids.append(sample_id)
            labels = [] if i % 5 == 4 else [ODD_LABELS[i % 6], ODD_LABELS[(i + 1) % 6]]
            scores = [s for _, _, s, _ in labels if s is not None and not math.isnan(s)]
            session.add(
                Sample(
                    id=sample_id,
                    dataset_id=dataset_id,
                    sample_type=0,
                    sample_status=AUTO,
                    sample_name=f"img_{i}.jpg",
                    sample_dir="obs://a/",
                    source_kind="object",
                    source_key=f"k/{sample_id}",
                    sample_size=10,
                    sample_time=1_700_000_000_000 + i,
                    metadata_={} if i % 3 else {"f": 0.1 + 0.2, "big": 2**70, "s": '❄ \\ " \n'},
                    hard=i % 2 == 0,
                    hard_coefficient=ODD_REALS[i % len(ODD_REALS)],
                    top_score=max(scores) if scores else None,
                )
            )
            for name, label_type, score, prop in labels:
                session.add(
                    SampleLabel(
                        sample_id=sample_id,
                        dataset_id=dataset_id,
                        name=name,
                        type=label_type,
                        score=score,
                        property=prop,
                        annotated_by="auto",
                        sample_top_score=max(scores) if scores else None,
                    )
                )
        session.flush()
        counters.rebuild(session, dataset_id)
        bump_data_version(session, dataset_id)
    return ids


def pages(world: World, dataset_id: str, list_name: str, **params: Any) -> list[dict[str, Any]]:
    answers = []
    for offset in range(4):
        response = world.alice.aksk.get(
            world.alice.v2(f"/datasets/{dataset_id}/{list_name}/samples"),
            params={"limit": 8, "offset": offset, **params},
        )
        assert response.status_code == 200, response.text
        answer = response.json()
        for sample in answer["samples"]:  # its signature expires from the time of the request
            sample["source"] = sample["source"].split("?")[0]
        answers.append(answer)
    return answers


@pytest.mark.parametrize("deep", [False, True], ids=["from the start", "seeking from anchors"])
def test_pages_read_the_fast_way_answer_as_the_plain_read(
    world: World, monkeypatch: pytest.MonkeyPatch, deep: bool
) -> None:
    if deep:  # pages past the second seek from anchors every 4 rows
        monkeypatch.setattr(world.services.sample_list, "deep_offset", 8)
        monkeypatch.setattr(world.services.sample_list, "anchor_every", 4)
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("reads"))
    insert_samples(world, dataset_id, 30)
    service = world.services.sample_list
    asked = [
        ("auto-annotations", {}),
        ("data-annotations", {"order": "asc"}),
        ("auto-annotations", {"label_name": "dog"}),
        ("data-annotations", {"low_score": "0.1", "high_score": "1"}),
    ]
    first = [pages(world, dataset_id, name, **params) for name, params in asked]
    assert service._reads_optimistically == (database_kind() == "postgresql")
    assert service._reads_json == (database_kind() == "sqlite")
    monkeypatch.setattr(service, "_reads_optimistically", False)
    monkeypatch.setattr(service, "_reads_json", False)
    service._built.clear()  # the statements built for the fast reads
    service.pages.forget([key for key, _, _ in service.pages.of_dataset(dataset_id)])  # and anchors
    plain = [pages(world, dataset_id, name, **params) for name, params in asked]
    assert first == plain
    labels = [label for answer in first[0] for sample in answer["samples"] for label in sample["labels"]]
    assert {label["name"] for label in labels} == {name for name, _, _, _ in ODD_LABELS}
    by_name = {label["name"]: label for label in labels}
    assert by_name["cat"]["score"] == 0.1 + 0.2 and by_name["dog"]["score"] == 1e-300
    assert "score" not in by_name["bird"] and by_name["bird"]["property"]["big"] == 2**70
    assert by_name["ship"]["score"] == 0.123456789012345678
    assert by_name["dog"]["property"]["note"] == 'snow ❄ \\ " \t'
    samples = [sample for answer in first[1] for sample in answer["samples"]]
    coefficients = {sample["metadata"].get("@modelarts:hard_coefficient") for sample in samples}
    assert coefficients == set(ODD_REALS)
    assert {sample["metadata"].get("big") for sample in samples} == {None, 2**70}


@pytest.mark.skipif(database_kind() != "postgresql", reason="SQLite reads every page in a snapshot")
def test_a_change_between_a_pages_two_reads_is_not_mixed_into_it(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reviewer's confirmation commits after the page read the count and before it read the
    rows: the answer is the state after it (the count with the rows), not the old count with
    the new rows."""
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, unique_name("race"))
    ids = insert_samples(world, dataset_id, 30)
    path = world.alice.v2(f"/datasets/{dataset_id}/auto-annotations/samples")
    before = world.alice.aksk.get(path, params={"limit": 50}).json()
    assert before["sample_count"] == 30
    confirmed = ids[-1]  # the newest: first on the page
    real = query_module.owned_dataset_version_counted
    reads: list[int] = []

    def read_then_confirm(*args: Any) -> Any:
        found = real(*args)
        reads.append(found[1])
        if len(reads) == 1:
            world.services.sample_edits.update_samples(
                world.alice.project_id,
                dataset_id,
                UpdateSamplesRequest.model_validate(
                    {"samples": [{"sample_id": confirmed, "labels": [{"name": "cat", "type": 0}]}]}
                ),
                labeler="reviewer@example.com",
            )
        return found

    monkeypatch.setattr(query_module, "owned_dataset_version_counted", read_then_confirm)
    after = world.alice.aksk.get(path, params={"limit": 50}).json()
    assert len(reads) == 2 and reads[1] > reads[0]  # read again, in a snapshot
    assert after["sample_count"] == 29
    assert [s["sample_id"] for s in after["samples"]] == [s["sample_id"] for s in before["samples"][1:]]


@pytest.mark.skipif(database_kind() != "sqlite", reason="SQLite's printf")
def test_sqlite_reads_pages_as_json_only_where_its_reals_read_back_exactly(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with world.services.db.engine.connect() as connection:
        assert dialect.sqlite_reads_json_exactly(connection)
        monkeypatch.setattr(dialect, "SQLITE_EXACT_REAL", "%!.17g")  # misses some doubles
        assert not dialect.sqlite_reads_json_exactly(connection)
