"""The export task body itself: a stop at its last progress report (after every sample was
written, before the output is published) leaves nothing behind; and 100,000 generated samples
export as a task with progress and can be stopped over HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import insert

from labelarts.clock import new_resource_id, now_ms
from labelarts.jobs.runner import StopRequested
from labelarts.schemas.exports import CreateExportTaskRequest
from labelarts.services.exporting.job import ExportJob
from labelarts.storage.db.models import Label, Sample, SampleLabel
from tests.api import unique_name
from tests.exports import ExportWorld, files_under, start_export, wait_export, world_fixture
from tests.imports import create, jpeg, png, run_import, write

world = world_fixture("export-job")


class StopAtLastReport:
    """A task context whose report raises StopRequested once every sample is written."""

    def __init__(self, project_id: str, dataset_id: str, config: Mapping[str, Any]) -> None:
        self.task_id = new_resource_id()
        self.project_id = project_id
        self.dataset_id = dataset_id
        self.config = config
        self.reports: list[tuple[float, dict[str, Any]]] = []

    def report(self, progress: float, **result: Any) -> None:
        self.reports.append((progress, result))
        done = result.get("finished_sample_count")
        if done and done == result["total_sample_count"]:
            raise StopRequested


def labeled_folder(world: ExportWorld) -> str:
    files: dict[str, bytes | str] = {"cats/1.jpg": jpeg(1), "cats/2.jpg": jpeg(2), "dogs/3.png": png(3)}
    dataset_id = create(world, 0)
    run_import(world, dataset_id, write(world.imports / unique_name("src"), files))
    return dataset_id


@pytest.mark.parametrize("annotation_format", [None, "COCO", "VOC", "CSV", "IMAGENET"])
def test_a_stop_before_publishing_leaves_no_output(world: ExportWorld, annotation_format: str | None) -> None:
    dataset_id = labeled_folder(world)
    dest = world.exports / unique_name("stopped")
    services = world.services
    request = CreateExportTaskRequest(path=str(dest), annotation_format=annotation_format)
    config = services.exports.plan(world.alice.project_id, dataset_id, request)
    ctx = StopAtLastReport(world.alice.project_id, dataset_id, config)
    job = ExportJob(
        db=services.db,
        objects=services.objects,
        local_files=services.sources.local,
        export_scope=services.exports._export_grants.scope(world.alice.project_id),
        staging_dir=services.settings.resolved_data_dir / "exports",
        ctx=ctx,  # type: ignore[arg-type]
    )
    with pytest.raises(StopRequested):
        job.run()
    assert not dest.exists()
    assert [p.name for p in world.exports.iterdir() if p.name.startswith(f".{dest.name}")] == []
    assert ctx.reports[-1][1] == {"total_sample_count": 3, "finished_sample_count": 3}
    # the same export, not stopped, publishes the folder
    config = services.exports.plan(world.alice.project_id, dataset_id, request)
    ok = StopAtLastReport(world.alice.project_id, dataset_id, config)
    ok.report = lambda progress, **result: ok.reports.append((progress, result))  # type: ignore[method-assign]
    ExportJob(
        db=services.db,
        objects=services.objects,
        local_files=services.sources.local,
        export_scope=services.exports._export_grants.scope(world.alice.project_id),
        staging_dir=services.settings.resolved_data_dir / "exports",
        ctx=ok,  # type: ignore[arg-type]
    ).run()
    assert dest.is_dir() and files_under(dest)


GENERATED = 100_000


def generated_text_dataset(world: ExportWorld, count: int) -> str:
    """A text-classification dataset of ``count`` short labeled texts, inserted in bulk (each
    text is whole in its row, so exporting reads no files)."""
    dataset_id = create(world, 100)
    now = now_ms()
    with world.services.db.session() as session:
        session.add(Label(dataset_id=dataset_id, name="pos", type=100, property={}, attributes=[]))
        session.add(Label(dataset_id=dataset_id, name="neg", type=100, property={}, attributes=[]))
        for start in range(0, count, 10_000):
            ids = [new_resource_id(20) for _ in range(start, min(count, start + 10_000))]
            session.execute(
                insert(Sample.__table__),
                [
                    {
                        "id": sid,
                        "dataset_id": dataset_id,
                        "sample_type": 1,
                        "sample_status": "MANUAL_ANNOTATION",
                        "sample_name": f"t{start + i}.txt",
                        "sample_dir": "",
                        "source_kind": "object",
                        "source_key": f"datasets/{dataset_id}/text/{sid}.txt",
                        "sample_size": 8,
                        "sample_time": now,
                        "metadata": {},
                        "hard": False,
                        "revision": 0,
                        "text": f"text {start + i}",
                    }
                    for i, sid in enumerate(ids)
                ],
            )
            session.execute(
                insert(SampleLabel.__table__),
                [
                    {
                        "sample_id": sid,
                        "dataset_id": dataset_id,
                        "name": "pos" if (start + i) % 2 else "neg",
                        "type": 100,
                        "property": {},
                        "annotated_by": "human",
                    }
                    for i, sid in enumerate(ids)
                ],
            )
    return dataset_id


def test_100k_samples_export_with_progress_and_stop(world: ExportWorld) -> None:
    dataset_id = generated_text_dataset(world, GENERATED)
    alice = world.alice
    dest = world.exports / unique_name("big")
    response = start_export(
        alice.aksk, alice.project_id, dataset_id, path=str(dest), annotation_format="JSONL"
    )
    assert response.status_code == 200, response.text
    task_id = response.json()["task_id"]
    task, seen = wait_export(alice.aksk, alice.project_id, dataset_id, task_id, timeout=600)
    assert task["status"] == "SUCCESSED", task
    assert task["total_sample_count"] == task["finished_sample_count"] == GENERATED
    assert seen == sorted(seen) and seen[-1] == 100.0
    with open(dest / "labels.jsonl", encoding="utf-8") as fh:
        assert sum(1 for _ in fh) == GENERATED
    # the same export, stopped as soon as it runs
    again = world.exports / unique_name("big-stopped")
    response = start_export(
        alice.aksk, alice.project_id, dataset_id, path=str(again), annotation_format="JSONL"
    )
    task_id = response.json()["task_id"]
    detail = alice.v2(f"/datasets/{dataset_id}/export-tasks/{task_id}")
    while alice.aksk.get(detail).json()["status"] == "INIT":
        pass
    stop = alice.aksk.post(alice.v2(f"/datasets/{dataset_id}/export-tasks/{task_id}/stop"))
    assert stop.status_code in (204, 400), stop.text
    task, _ = wait_export(alice.aksk, alice.project_id, dataset_id, task_id, timeout=600)
    assert [p.name for p in world.exports.iterdir() if p.name.startswith(f".{again.name}")] == []
    if task["status"] == "FAILED":  # stopped before its end: nothing published
        assert not again.exists()
        assert task["finished_sample_count"] < GENERATED
        assert task["error_code"]
    else:  # it had finished before the stop arrived
        assert (again / "labels.jsonl").is_file()
