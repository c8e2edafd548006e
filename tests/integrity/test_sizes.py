"""No statement binds an unbounded list: label renames and deletes at tens of thousands of
samples, and one text file of tens of thousands of lines, through the API on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api import World, database_kind, shared_world, wait_for_import
from tests.conftest import create_dataset
from tests.imports import create
from tests.integrity import bulk_samples, label_table, sample_count, stored_samples

# The figures. SQLite takes at most 32,766 variables in one statement, PostgreSQL
# 65,535 parameters: the label deletion with samples goes beyond the cap of the database used.
LABEL_CARRIERS = 20_000
BEYOND_PARAMETER_CAP = 66_000 if database_kind() == "postgresql" else 33_000
TEXT_LINES = 34_000
SLOW = 300.0  # seconds a request or task at these sizes may take on a loaded CI machine


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("sizes")) as w:
        yield w


def labels_path(world: World, dataset_id: str, suffix: str = "") -> str:
    return world.alice.v2(f"/datasets/{dataset_id}/data-annotations/labels{suffix}")


def test_rename_then_delete_a_label_carried_by_20000_samples(world: World) -> None:
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, "big-label")
    # Even samples carry only "big"; odd ones "big" and "keep".
    ids = bulk_samples(
        world, dataset_id, LABEL_CARRIERS, lambda i: ["big"] if i % 2 == 0 else ["big", "keep"]
    )

    renamed = world.alice.aksk.put(
        labels_path(world, dataset_id),
        json={"labels": [{"name": "big", "property": {"@modelarts:rename_to": "huge"}}]},
        timeout=SLOW,
    )
    assert renamed.status_code == 200, renamed.text
    after_rename = stored_samples(world, dataset_id)
    assert all(
        after_rename[s][2] == (["huge"] if i % 2 == 0 else ["huge", "keep"]) for i, s in enumerate(ids)
    )
    assert {revision for _status, revision, _labels in after_rename.values()} == {1}

    deleted = world.alice.aksk.post(
        labels_path(world, dataset_id, "/delete"), json={"labels": [{"name": "huge"}]}, timeout=SLOW
    )
    assert deleted.status_code == 200, deleted.text
    after = stored_samples(world, dataset_id)
    assert len(after) == LABEL_CARRIERS
    for i, sample_id in enumerate(ids):
        expected = ("UN_ANNOTATION", 2, []) if i % 2 == 0 else ("MANUAL_ANNOTATION", 2, ["keep"])
        assert after[sample_id] == expected, (i, after[sample_id])
    assert label_table(world, dataset_id) == {"keep"}
    stats = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    assert stats["sample_stats"]["un_annotation"] == LABEL_CARRIERS // 2
    assert stats["sample_stats"]["manual_annotation"] == LABEL_CARRIERS // 2


def test_delete_a_label_with_its_samples_beyond_the_parameter_cap(world: World) -> None:
    dataset_id = create_dataset(world.alice.aksk, world.alice.project_id, "cap-label")
    bulk_samples(world, dataset_id, BEYOND_PARAMETER_CAP, lambda i: ["gone"])
    survivors = bulk_samples(world, dataset_id, 10, lambda i: ["gone", "stay"])

    response = world.alice.aksk.delete(labels_path(world, dataset_id, "/gone"), timeout=SLOW)
    assert response.status_code == 204, response.text
    after = stored_samples(world, dataset_id)
    assert set(after) == set(survivors)  # the samples carrying only "gone" went, with it
    assert all(after[s] == ("MANUAL_ANNOTATION", 1, ["stay"]) for s in survivors)
    assert label_table(world, dataset_id) == {"stay"}


def test_one_text_file_of_34000_lines_imports_every_line(world: World) -> None:
    dataset_id = create(world, 100)
    folder = world.imports / "long-text"
    folder.mkdir()
    path: Path = folder / "lines.txt"
    path.write_text("".join(f"sentence number {i}\t{'pos' if i % 2 else 'neg'}\n" for i in range(TEXT_LINES)))

    response = world.alice.aksk.post(
        world.alice.v2(f"/datasets/{dataset_id}/import-tasks"), json={"import_path": str(folder)}
    )
    assert response.status_code == 200, response.text
    path_of_task = world.alice.v2(f"/datasets/{dataset_id}/import-tasks/{response.json()['task_id']}")
    task = wait_for_import(world.alice.aksk, path_of_task, timeout=SLOW)
    assert task["status"] == "COMPLETED", task
    assert sample_count(world, dataset_id) == TEXT_LINES
    stored = stored_samples(world, dataset_id)
    assert (
        sum(1 for status, _rev, names in stored.values() if status == "MANUAL_ANNOTATION" and names)
        == TEXT_LINES
    )
    assert label_table(world, dataset_id) == {"pos", "neg"}
