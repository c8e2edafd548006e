"""``POST .../import-tasks``: validation, one running import per dataset, answer shapes."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from labelarts.clock import now_ms
from labelarts.jobs.states import TaskStatus
from labelarts.services.samples.records import AUTO, LabelInput, new_sample, set_sample_labels
from labelarts.storage.db.models import Dataset, SampleLabel, Task
from tests.api import World, unique_name, wait_for_import
from tests.conftest import assert_error
from tests.imports import create, jpeg, manifest_text, run_import, world_fixture, write

world = world_fixture("import-api")

# Long: the reference types these; the extras are LabelArts' own (docs/api.md).
LONG_FIELDS = [
    "annotated_sample_count",
    "create_time",
    "elapsed_time",
    "finished_file_count",
    "finished_file_size",
    "imported_sample_count",
    "imported_sub_sample_count",
    "total_file_count",
    "total_file_size",
    "total_sample_count",
    "total_sub_sample_count",
    "unconfirmed_sample_count",
    "update_ms",
    "import_type",
    "skipped_file_count",
    "failed_file_count",
    "annotation_file_count",
    "failed_files_omitted",
]


def post(world: World, dataset_id: str, body: Any) -> Any:
    return world.alice.aksk.post(world.alice.v2(f"/datasets/{dataset_id}/import-tasks"), json=body)


@pytest.fixture(scope="module")
def folder(world: World) -> str:
    return str(write(world.imports / unique_name("api"), {"a.jpg": jpeg(1), "b.jpg": jpeg(2)}))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="no-import_path"),
        pytest.param({"import_type": "dir"}, id="only-type"),
        pytest.param({"import_path": ""}, id="empty-path"),
        pytest.param({"import_path": "{folder}", "import_type": "zip"}, id="type-unknown"),
        pytest.param({"import_path": "{folder}", "import_type": 0}, id="type-integer"),
        pytest.param({"import_path": "{folder}", "import_annotations": "yes"}, id="annotations-string"),
        pytest.param({"import_path": 5}, id="path-number"),
        pytest.param({"import_path": "{folder}\x00"}, id="path-nul"),
        pytest.param({"import_path": "{folder}", "label_format": {"label_type": "2"}}, id="label-type"),
        pytest.param({"import_path": "{folder}", "label_format": {"text_sample_separator": "ab"}}, id="sep"),
        pytest.param({"import_path": "{folder}", "data_source": {"data_type": 1}}, id="data-type"),
        pytest.param({"import_path": "{folder}", "included_labels": "cat"}, id="labels-string"),
        pytest.param([{"import_path": "{folder}"}], id="array"),
    ],
)
def test_invalid_bodies_are_400(world: World, folder: str, body: Any) -> None:
    dataset_id = create(world, 0)
    if isinstance(body, dict):
        body = {k: v.replace("{folder}", folder) if isinstance(v, str) else v for k, v in body.items()}
    assert_error(post(world, dataset_id, body), 400)


def test_equal_text_separators_are_400(world: World, folder: str) -> None:
    dataset_id = create(world, 100)
    fmt = {"text_sample_separator": ",", "text_label_separator": ","}
    assert_error(post(world, dataset_id, {"import_path": folder, "label_format": fmt}), 400, "ModelArts.0104")


def test_path_kinds_must_match_import_type(world: World, folder: str) -> None:
    dataset_id = create(world, 0)
    assert_error(
        post(world, dataset_id, {"import_path": folder, "import_type": "manifest"}), 400, "ModelArts.4312"
    )
    assert_error(post(world, dataset_id, {"import_path": f"{folder}/a.jpg"}), 400, "ModelArts.4312")


def test_table_and_video_datasets_cannot_import_files(world: World, folder: str) -> None:
    for dataset_type in (400, 600):
        extra = {"schema": [{"name": "c", "type": "String"}]} if dataset_type == 400 else {}
        dataset_id = create(world, dataset_type, **extra)
        assert_error(post(world, dataset_id, {"import_path": folder}), 400, "ModelArts.4396")


def test_one_running_import_per_dataset(world: World, folder: str) -> None:
    dataset_id = create(world, 0)
    running = unique_name("task")[:32]
    with world.services.db.session() as session:
        now = now_ms()
        session.add(
            Task(
                id=running,
                project_id=world.alice.project_id,
                dataset_id=dataset_id,
                kind="import",
                status=TaskStatus.RUNNING,
                config={"import_type": 0, "import_path": folder},
                result={},
                create_time=now,
                update_time=now,
            )
        )
    error = assert_error(post(world, dataset_id, {"import_path": folder}), 400, "ModelArts.4356")
    assert running in error["error_msg"]
    with world.services.db.session() as session:
        task = session.get(Task, running)
        assert task is not None
        task.status = TaskStatus.FAILED
    assert run_import(world, dataset_id, folder)["imported_sample_count"] == 2


def test_concurrent_creates_never_run_two_imports(world: World) -> None:
    root = write(world.imports / unique_name("many"), {f"{i}.jpg": jpeg(i) for i in range(60)})
    dataset_id = create(world, 0)
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: post(world, dataset_id, {"import_path": str(root)}), range(6)))
    accepted = [r for r in responses if r.status_code == 200]
    assert accepted
    for response in responses:
        if response.status_code != 200:
            assert_error(response, 400, "ModelArts.4356")
    for response in accepted:
        path = world.alice.v2(f"/datasets/{dataset_id}/import-tasks/{response.json()['task_id']}")
        assert wait_for_import(world.alice.aksk, path)["status"] == "COMPLETED"
    with world.services.db.session() as session:
        tasks = session.query(Task).filter_by(dataset_id=dataset_id, kind="import").all()
        spans = sorted((t.start_time or 0, t.end_time or 0) for t in tasks)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, "two imports of one dataset overlapped"
    total = sum(
        world.alice.aksk.get(
            world.alice.v2(f"/datasets/{dataset_id}/import-tasks/{r.json()['task_id']}")
        ).json()["imported_sample_count"]
        for r in accepted
    )
    assert total == 60


def test_unknown_and_foreign_datasets_are_404(world: World, folder: str) -> None:
    assert_error(post(world, "doesNotExist123", {"import_path": folder}), 404)
    foreign = world.mallory.aksk.post(
        world.mallory.v2("/datasets"),
        json={"dataset_name": unique_name(), "data_sources": [{"data_type": 0}], "work_path": "/w/"},
    ).json()["dataset_id"]
    assert_error(post(world, foreign, {"import_path": folder}), 404)


def test_answers_have_reference_types_and_the_failure_report(world: World) -> None:
    root = write(
        world.imports / unique_name("shape"),
        {"ok.jpg": jpeg(1), "bad.jpg": "text", "m.manifest": manifest_text([{"source": "ok.jpg"}])},
    )
    dataset_id = create(world, 0)
    task = run_import(world, dataset_id, root)
    for field in LONG_FIELDS:
        assert type(task[field]) is int, (field, task[field])
    assert task["status"] == "COMPLETED" and isinstance(task["task_id"], str)
    assert task["data_source"] == {"data_path": str(root.resolve()), "data_type": 0}
    assert task["file_statistics"] == {
        "file_num_finished": 3,
        "file_num_total": 3,
        "file_size_finished": task["total_file_size"],
        "file_size_total": task["total_file_size"],
    }
    not_an_image = "content is not a JPEG, PNG, BMP or WebP image (it looks like text)"
    assert sorted(task["failed_files"], key=lambda f: f["path"]) == [
        {"path": "bad.jpg", "reason": not_an_image},
        {"path": "m.manifest", "reason": not_an_image},
    ]
    assert task["failed_file_count"] == 2 and task["imported_sample_count"] == 1
    assert task["progress"] == 1.0

    manifest = run_import(world, dataset_id, root / "m.manifest", import_type="manifest")
    assert manifest["import_type"] == 1 and manifest["import_path"] == str((root / "m.manifest").resolve())

    listed = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/import-tasks"), params={"limit": 2})
    assert listed.status_code == 200
    body = listed.json()
    assert body["total_count"] == 3
    assert [t["task_id"] for t in body["import_tasks"]] == [manifest["task_id"], task["task_id"]]
    assert all("failed_files" not in t and t["failed_file_count"] >= 0 for t in body["import_tasks"])


def test_labels_of_new_samples_match_set_sample_labels(world: World) -> None:
    """The importer labels new samples with ``set_sample_labels(..., new=True)`` (no DELETE);
    that must give the same rows, status and top score as the general path."""
    dataset_id = create(world, 0)
    labels = [
        LabelInput("a", 0, score=0.25, property={"k": "v"}, annotated_by="auto"),
        LabelInput("b", 0),
        LabelInput("c", 0, score=0.75),
    ]
    views = []
    with world.services.db.session() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        for way in ("general", "new"):
            sample = new_sample(
                dataset,
                source_kind="object",
                source_key=f"x/{way}",
                sample_name="x",
                sample_dir="",
                sample_size=1,
                sample_time=0,
                metadata={},
                content_hash=None,
                import_origin=None,
            )
            session.add(sample)
            session.flush()
            set_sample_labels(session, sample, labels, status=AUTO, new=way == "new")
            session.flush()
            rows = session.query(SampleLabel).filter_by(sample_id=sample.id).order_by(SampleLabel.id).all()
            found = [(r.name, r.type, r.score, r.property, r.annotated_by) for r in rows]
            views.append((sample.sample_status, sample.top_score, found))
    assert views[0] == views[1]


def test_dataset_status_is_8_while_an_import_runs(world: World) -> None:
    root = write(world.imports / unique_name("status"), {f"{i}.jpg": jpeg(i) for i in range(150)})
    dataset_id = create(world, 0)
    response = post(world, dataset_id, {"import_path": str(root)})
    assert response.status_code == 200
    task_path = world.alice.v2(f"/datasets/{dataset_id}/import-tasks/{response.json()['task_id']}")
    seen_running = False
    while True:
        status = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}")).json()["status"]
        task = world.alice.aksk.get(task_path).json()
        if task["status"] in ("QUEUING", "RUNNING"):
            # Read after the dataset: a task still running means the dataset was importing.
            assert status == 8
            seen_running = True
        else:
            break
    assert task["status"] == "COMPLETED"
    assert world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}")).json()["status"] == 1
    assert seen_running or task["imported_sample_count"] == 150
