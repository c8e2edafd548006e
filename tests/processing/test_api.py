"""The 12 processing endpoints over HTTP, field for field: tasks, algorithm items, versions,
results with signed files, the new dataset version, stop, delete, errors and isolation."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import update

from labelarts.storage.db.models import Sample, Task
from tests.api import World, add_sample
from tests.conftest import assert_error
from tests.imports import jpeg, world_fixture
from tests.ml.processing.test_augmentation import BAD_PARAMETERS as BAD_AUGMENTATION_PARAMETERS
from tests.processing import (
    all_results,
    create_task,
    dataset_input,
    fetch,
    get,
    size_of,
    task_name,
    template,
    versions_of,
    wait_task,
    wait_version,
)
from tests.processing.operators import FAKES, Dedup, Flip, Gate, lookup
from tests.routes import PROJECT_ROUTES
from tests.versions import all_samples, classes, manifest_lines, published

world = world_fixture("processing")


@pytest.fixture(autouse=True)
def operators(world: World) -> Iterator[None]:
    world.services.processing.operators = FAKES
    yield
    world.services.processing.operators = FAKES
    world.services.processing.batch_size = 200


def overwrite(world: World, sample_id: str, data: bytes, name: str | None = None) -> None:
    """Give a sample another file content (and name), through the storage layer."""
    services = world.services
    with services.db.session() as session:
        sample = session.get(Sample, sample_id)
        assert sample is not None
        if sample.source_kind == "object":
            services.objects.put(sample.source_key, data)
        else:
            Path(sample.source_key).write_bytes(data)
        sample.content_hash = hashlib.sha256(data).hexdigest()
        sample.sample_size = len(data)
        if name is not None:
            sample.sample_name = name


def read(world: World, sample_id: str) -> bytes:
    with world.services.db.session() as session:
        sample = session.get(Sample, sample_id)
        assert sample is not None
        kind, key = sample.source_kind, sample.source_key
    return world.services.objects.get(key) if kind == "object" else Path(key).read_bytes()


def wide_and_broken(world: World) -> tuple[str, str]:
    """A published classification dataset: two 48-px-wide cats and a 24-px dog;
    (dataset id, version id)."""
    dataset_id = classes(world, {"cat": 2, "dog": 1})
    samples = {s["sample_name"]: s for s in all_samples(world, dataset_id)}
    overwrite(world, samples["cat0.jpg"]["sample_id"], jpeg(101, 48, 32))
    overwrite(world, samples["cat1.jpg"]["sample_id"], jpeg(102, 48, 32))
    version = published(world, dataset_id)
    return dataset_id, version["version_id"]


def validation_body(dataset_id: str, version_id: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": task_name(),
        "inputs": [dataset_input(dataset_id, version_id)],
        "template": template(
            "sys_data_validation",
            (
                "MetaValidation",
                {"task_type": "image_classification", "image_max_width": "32", "total_status": "[0,1,2]"},
            ),
        ),
        "workspace_id": "0",
    }
    body.update(extra)
    return body


def test_items_are_the_four_templates(world: World) -> None:
    body = get(world, "/processor-tasks/items")
    assert body == {
        "total": 4,
        "items": [
            {"template_id": "sys_data_cleaning", "label_en": "data cleaning", "label_zh": "数据清洗"},
            {"template_id": "sys_data_validation", "label_en": "data validation", "label_zh": "数据校验"},
            {"template_id": "sys_data_selection", "label_en": "data selection", "label_zh": "数据选择"},
            {"template_id": "sys_data_augmentation", "label_en": "data augmentation", "label_zh": "数据增强"},
        ],
    }
    assert get(world, "/processor-tasks/items", limit=1, offset=1)["items"] == [body["items"][1]]


def test_a_validation_run_field_for_field(world: World) -> None:
    dataset_id, version_id = wide_and_broken(world)
    body = validation_body(
        dataset_id,
        version_id,
        description="first run",
        create_version=True,
        work_path={"type": "DATASET", "path": dataset_id, "version_name": "checked"},
    )
    task_id = create_task(world, body)
    assert len(task_id) == 19
    versions = versions_of(world, task_id)
    assert len(versions) == 1
    run = wait_version(world, task_id, versions[0]["task_version_id"])
    task_version_id = run["task_version_id"]
    assert run["status"] == 2, run
    assert {k: run[k] for k in ("task_id", "version_name", "description")} == {
        "task_id": task_id,
        "version_name": "V001",
        "description": "",
    }
    assert run["origin_sample_count"] == 3
    assert (run["unmodified_sample_count"], run["modified_sample_count"]) == (1, 2)
    assert (run["deleted_sample_count"], run["add_sample_count"]) == (0, 0)
    assert run["inputs"] == [
        {
            "type": "DATASET",
            "source": dataset_id,
            "version_id": version_id,
            "version_name": "V001",
            "name": run["inputs"][0]["name"],
        }
    ]
    assert run["template"]["id"] == "sys_data_validation"
    assert run["template"]["operator_params"] == body["template"]["operator_params"]
    work = run["work_path"]
    assert work["type"] == "DATASET" and work["path"] == dataset_id and work["version_name"] == "checked"
    assert work["output_path"] == f"obs://processing/{task_id}/{task_version_id}/"
    assert isinstance(run["duration_seconds"], int) and run["create_time"] <= run["update_time"]

    detail = get(world, f"/processor-tasks/{task_id}")
    assert detail["task_id"] == task_id and detail["name"] == body["name"]
    assert detail["description"] == "first run"
    assert detail["status"] == 2 and detail["version_count"] == 1 and detail["is_current"] is True
    assert detail["workspace_id"] == "0" and detail["version_id"] == version_id
    assert detail["inputs"] == run["inputs"] and "data_source" not in detail
    assert detail["template"]["name"] == "data validation"
    assert "error_msg" not in detail and "result" not in detail

    # Results: the inputs in input order, each with its signed files.
    results = all_results(world, task_id, task_version_id)
    assert [r["result_property"] for r in results] == [
        1 if r["origin_source"].endswith(("cat0.jpg", "cat1.jpg")) else 0 for r in results
    ]
    by_name = {r["origin_source"].rsplit("/", 1)[1]: r for r in results}
    cat = by_name["cat0.jpg"]
    assert set(cat) == {
        "sample_id",
        "version_id",
        "origin_source",
        "new_source",
        "signed_origin_source",
        "signed_new_source",
        "result_property",
        "result_description",
    }
    assert cat["version_id"] == task_version_id
    assert cat["new_source"] == f"obs://processing/{task_id}/{task_version_id}/Data/cat0_checked.jpg"
    assert cat["result_description"] == [["resized 48x32 -> 24x16"]]
    assert size_of(fetch(cat["signed_origin_source"])) == (48, 32)
    assert size_of(fetch(cat["signed_new_source"])) == (24, 16)
    dog = by_name["dog0.jpg"]
    assert dog["new_source"] == "" and dog["signed_new_source"] == "" and dog["result_description"] == [[]]
    # process_parameter applies to both signed files.
    small = get(
        world,
        f"/processor-tasks/{task_id}/versions/{task_version_id}/results",
        result_property="1",
        limit=1,
        process_parameter="image/resize,m_lfit,w_12",
    )
    assert small["count"] == 2 and small["has_more"] is True and len(small["results"]) == 1
    first = small["results"][0]
    assert size_of(fetch(first["signed_origin_source"]))[0] == 12
    assert size_of(fetch(first["signed_new_source"]))[0] == 12
    tampered = first["signed_new_source"].replace("w_12", "w_13").replace("w%2C12", "w%2C13")
    assert tampered != first["signed_new_source"]
    assert httpx_status(tampered) == 403
    assert get(
        world, f"/processor-tasks/{task_id}/versions/{task_version_id}/results", result_property="2"
    ) == {"count": 0, "has_more": False, "results": []}

    # The new dataset version: the inputs with the modified files swapped in.
    new_version_id = run["work_path"]["version_id"]
    version = get(world, f"/datasets/{dataset_id}/versions/{new_version_id}")
    assert version["version_name"] == "checked" and version["status"] == 1
    assert version["total_sample_count"] == 3 and version["modified_sample_count"] == 2
    assert version["processor_task_id"] == task_id and version["previous_version_id"] == version_id
    frozen = {s["sample_name"]: s for s in all_samples(world, dataset_id, version_id=new_version_id)}
    assert sorted(frozen) == ["cat0_checked.jpg", "cat1_checked.jpg", "dog0.jpg"]
    assert [x["name"] for x in frozen["cat0_checked.jpg"]["labels"]] == ["cat"]
    assert size_of(fetch(frozen["cat0_checked.jpg"]["source"])) == (24, 16)
    lines = manifest_lines(world, dataset_id, new_version_id)
    assert sorted(line["source"].rsplit("/", 1)[1] for line in lines) == sorted(frozen)
    output = world.services.objects.get(f"processing/{task_id}/{task_version_id}/output.manifest")
    assert len(output.splitlines()) == 3
    # The live dataset did not change.
    live = sorted(s["sample_name"] for s in all_samples(world, dataset_id))
    assert live == ["cat0.jpg", "cat1.jpg", "dog0.jpg"]

    # Update, list, stop a finished version, delete.
    assert (
        world.alice.aksk.put(
            world.alice.v2(f"/processor-tasks/{task_id}"), json={"description": "renamed"}
        ).json()
        == {}
    )
    assert get(world, f"/processor-tasks/{task_id}")["description"] == "renamed"
    listed = get(world, "/processor-tasks", task_name=body["name"][2:8])
    assert listed["count"] == 1 and listed["tasks"][0] == get(world, f"/processor-tasks/{task_id}")
    assert get(world, "/processor-tasks", task_name=body["name"], status=3)["count"] == 0
    assert (
        get(world, "/processor-tasks", task_name=body["name"], task_type="sys_data_selection")["count"] == 0
    )
    assert get(world, "/processor-tasks", task_name=body["name"], version_id=f"x,{version_id}")["count"] == 1
    stop = world.alice.aksk.post(
        world.alice.v2(f"/processor-tasks/{task_id}/versions/{task_version_id}/stop")
    )
    assert_error(stop, 400, "ModelArts.4396")
    deleted = world.alice.aksk.delete(
        world.alice.v2(f"/processor-tasks/{task_id}/versions/{task_version_id}")
    )
    assert deleted.status_code == 204
    assert_error(
        world.alice.aksk.get(world.alice.v2(f"/processor-tasks/{task_id}/versions/{task_version_id}")),
        404,
        "ModelArts.4700",
    )
    # The dataset version still shows its files (they were not deleted with the run).
    assert size_of(fetch(all_samples(world, dataset_id, version_id=new_version_id)[0]["source"]))
    gone = world.alice.aksk.delete(world.alice.v2(f"/processor-tasks/{task_id}"))
    assert gone.status_code == 200 and gone.json() == {}
    assert_error(world.alice.aksk.get(world.alice.v2(f"/processor-tasks/{task_id}")), 404, "ModelArts.4700")


def httpx_status(url: str) -> int:
    import httpx

    return httpx.get(url).status_code


def test_a_chain_validation_dedup_augmentation_into_a_new_version(world: World) -> None:
    """validation -> de-duplication (TASK input) -> augmentation (TASK input) into a new
    dataset version, checked sample by sample."""
    dataset_id, version_id = wide_and_broken(world)
    samples = {s["sample_name"]: s for s in all_samples(world, dataset_id)}
    # dog0 gets a copy (same bytes), and a cat's file is not an image at all.
    dup = add_sample(world.services, dataset_id, ["dog"], with_source=True)
    overwrite(world, dup, read(world, samples["dog0.jpg"]["sample_id"]), name="dog-copy.jpg")
    add_sample(world.services, dataset_id, ["cat"], with_source=True)
    version_id = published(world, dataset_id)["version_id"]

    validate = create_task(world, validation_body(dataset_id, version_id, create_version=True))
    first = wait_version(world, validate, versions_of(world, validate)[0]["task_version_id"])
    assert first["status"] == 2, first
    assert (
        first["unmodified_sample_count"],
        first["modified_sample_count"],
        first["deleted_sample_count"],
    ) == (
        2,
        2,
        1,
    )
    dedup = create_task(
        world,
        {
            "name": task_name("dedup"),
            "inputs": [{"type": "TASK", "source": validate}],
            "template": template(
                "sys_data_selection",
                (
                    "SimDeduplication",
                    {
                        "task_type": "image_classification",
                        "simlarity_threshold": "0.9",
                        "do_validation": "False",
                    },
                ),
            ),
            "create_version": True,
        },
    )
    second = wait_version(world, dedup, versions_of(world, dedup)[0]["task_version_id"])
    assert second["status"] == 2, second
    assert second["origin_sample_count"] == 4 and second["deleted_sample_count"] == 1
    removed = all_results(world, dedup, second["task_version_id"], result_property="2")
    assert len(removed) == 1 and removed[0]["result_description"][0][0].startswith("duplicate of ")
    augment = create_task(
        world,
        {
            "name": task_name("aug"),
            "inputs": [{"type": "TASK", "source": dedup}],
            "work_path": {"type": "DATASET", "path": dataset_id},
            "template": template(
                "sys_data_augmentation",
                ("Flip", {"task_type": "image_classification", "lr_ud": "lr", "do_validation": "False"}),
            ),
            "create_version": True,
        },
    )
    third = wait_version(world, augment, versions_of(world, augment)[0]["task_version_id"])
    assert third["status"] == 2, third
    assert third["origin_sample_count"] == 3 and third["add_sample_count"] == 3
    assert third["unmodified_sample_count"] == 3
    # Augmentation's results show the added samples only (total_status [3]).
    added = all_results(world, augment, third["task_version_id"])
    assert [r["result_property"] for r in added] == [3, 3, 3]
    for result in added:
        assert result["sample_id"] == hashlib.md5(result["new_source"][len("obs://") :].encode()).hexdigest()
        assert result["origin_source"] == "" and result["signed_origin_source"] == ""
    new_version = third["work_path"]["version_id"]
    frozen = {s["sample_name"]: s for s in all_samples(world, dataset_id, version_id=new_version)}
    kept_dog = "dog0.jpg" if "dog0.jpg" in frozen else "dog-copy.jpg"
    expected = {"cat0_checked.jpg", "cat1_checked.jpg", kept_dog}
    expected |= {n.rsplit(".", 1)[0] + "_flip.png" for n in expected}
    assert set(frozen) == expected
    for name, sample in frozen.items():
        original = name.replace("_flip.png", ".jpg") if name.endswith("_flip.png") else name
        want = "dog" if original.startswith("dog") else "cat"
        assert [x["name"] for x in sample["labels"]] == [want], name
        picture = Image.open(io.BytesIO(fetch(sample["source"]))).convert("RGB")
        if name.endswith("_flip.png"):
            source = Image.open(io.BytesIO(fetch(frozen[original]["source"]))).convert("RGB")
            assert picture.size == source.size
            assert np.array_equal(np.asarray(picture), np.asarray(source)[:, ::-1])
    detail = get(world, f"/datasets/{dataset_id}/versions/{new_version}")
    assert detail["add_sample_count"] == 3 and detail["processor_task_id"] == augment


def test_stop_mid_run_keeps_the_results_so_far(world: World) -> None:
    dataset_id = classes(world, {"cat": 5})
    gate = Gate(block_at=4)
    world.services.processing.operators = lookup(gate, Dedup(), Flip())
    world.services.processing.batch_size = 2
    task_id = create_task(world, validation_body(dataset_id, None, create_version=True))
    task_version_id = versions_of(world, task_id)[0]["task_version_id"]
    assert gate.reached.wait(30)
    running = get(world, f"/processor-tasks/{task_id}/versions/{task_version_id}")
    assert running["status"] == 1 and get(world, f"/processor-tasks/{task_id}")["status"] == 1
    again = world.alice.aksk.post(world.alice.v2(f"/processor-tasks/{task_id}/versions"), json={})
    assert_error(again, 400, "ModelArts.4394")
    busy = world.alice.aksk.delete(world.alice.v2(f"/processor-tasks/{task_id}"))
    assert_error(busy, 400, "ModelArts.4394")
    stop = world.alice.aksk.post(
        world.alice.v2(f"/processor-tasks/{task_id}/versions/{task_version_id}/stop")
    )
    assert stop.status_code == 200 and stop.json() == {}
    gate.release.set()
    stopped = wait_version(world, task_id, task_version_id)
    assert stopped["status"] == 4 and stopped["error_msg"]
    kept = all_results(world, task_id, task_version_id)
    assert len(kept) == 2  # the first batch; the stop came before the second was written
    assert "work_path" not in stopped or "version_id" not in stopped["work_path"]
    # A new version runs to the end.
    world.services.processing.operators = FAKES
    rerun = world.alice.aksk.post(
        world.alice.v2(f"/processor-tasks/{task_id}/versions"), json={"description": "again"}
    )
    assert rerun.status_code == 200, rerun.text
    done = wait_version(world, task_id, rerun.json()["version_id"])
    assert done["status"] == 2 and done["version_name"] == "V002" and done["origin_sample_count"] == 5


def test_a_run_whose_worker_died_fails_and_a_rerun_completes(world: World) -> None:
    dataset_id = classes(world, {"dog": 3})
    gate = Gate(block_at=2)
    world.services.processing.operators = lookup(gate, Dedup(), Flip())
    task_id = create_task(world, validation_body(dataset_id, None, create_version=True))
    task_version_id = versions_of(world, task_id)[0]["task_version_id"]
    assert gate.reached.wait(30)
    # The worker "dies": the run is another (gone) process's, whose lease ran out; recovery
    # (every worker runs it at start and every half lease) ends it.
    services = world.services
    job_id = services.processing.job_of(task_version_id)
    with services.db.session() as session:
        session.execute(update(Task).where(Task.id == job_id).values(owner="gone:1:x", lease_expires_at=0))
    assert services.tasks.recover_expired() == [job_id]
    gate.release.set()
    failed = wait_version(world, task_id, task_version_id)
    assert failed["status"] == 3 and "interrupted" in failed["error_msg"].lower()
    task = get(world, f"/processor-tasks/{task_id}")
    assert task["status"] == 3 and task["error_msg"] == failed["error_msg"]
    world.services.processing.operators = FAKES
    rerun = world.alice.aksk.post(world.alice.v2(f"/processor-tasks/{task_id}/versions"), json={})
    done = wait_version(world, task_id, rerun.json()["version_id"])
    assert done["status"] == 2 and done["origin_sample_count"] == 3


def test_feature_analysis_fills_the_result_and_the_version(world: World) -> None:
    dataset_id = classes(world, {"cat": 2, "dog": 2}, unlabeled=1)
    version_id = published(world, dataset_id, train_evaluate_sample_ratio="0.5")["version_id"]
    task_id = create_task(
        world,
        {
            "name": task_name("an"),
            "data_source": dataset_input(dataset_id),
            "version_id": version_id,
            "template": {
                "id": "sys_data_analyse",
                "operator_params": [{"id": "sys_data_analyse", "params": {"op_list": []}}],
            },
        },
    )
    task = wait_task(world, task_id)
    assert task["status"] == 2, task
    result = task["result"]
    assert result["sample_count"] == 5 and result["box_count"] == 0
    assert set(result["metrics"]) == {
        "resolution",
        "aspect_ratio",
        "brightness",
        "saturation",
        "colorfulness",
        "blur",
    }
    resolution = result["metrics"]["resolution"]
    assert sum(resolution["all"]["counts"]) == 5 and len(resolution["all"]["bins"]) == 11
    assert sum(resolution["train"]["counts"]) + sum(resolution["eval"]["counts"]) == 4
    assert task["data_source"] == {
        "type": "DATASET",
        "source": dataset_id,
        "version_id": version_id,
        "version_name": "V001",
        "name": task["data_source"]["name"],
    }
    assert task["version_count"] == 0
    assert (
        "result"
        not in get(world, "/processor-tasks", task_name=task["name"], return_result="false")["tasks"][0]
    )
    version = get(world, f"/datasets/{dataset_id}/versions/{version_id}")
    assert version["data_analysis"] == result
    assert version["analysis_task_id"] == task_id and version["analysis_status"] == 2
    assert_error(world.alice.aksk.post(world.alice.v2(f"/processor-tasks/{task_id}/versions"), json={}), 400)


def _bad(world: World) -> dict[str, Any]:
    dataset_id = classes(world, {"cat": 1, "dog": 1})
    detection = world.alice.aksk.post(
        world.alice.v2("/datasets"),
        json={
            "dataset_name": task_name("det"),
            "dataset_type": 1,
            "data_sources": [{"data_type": 0}],
            "work_path": "/out/w/",
            "work_path_type": 0,
        },
    ).json()["dataset_id"]
    return {"dataset": dataset_id, "detection": detection}


@pytest.fixture(scope="module")
def bad(world: World) -> dict[str, Any]:
    return _bad(world)


def _body(ids: dict[str, Any], **change: Any) -> dict[str, Any]:
    body = validation_body(ids["dataset"], None)
    for key, value in change.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def _op(name: str, **params: Any) -> dict[str, Any]:
    return template("sys_data_validation", (name, {"task_type": "image_classification", **params}))


BAD_BODIES: list[tuple[str, dict[str, Any], str]] = [
    ("no name", {"name": None}, "ModelArts.0104"),
    ("bad name", {"name": "a b"}, "ModelArts.0104"),
    ("bad description", {"description": "<script>"}, "ModelArts.0104"),
    ("no template", {"template": None}, "ModelArts.0104"),
    ("unknown template", {"template": {"id": "sys_nope", "operator_params": []}}, "ModelArts.0104"),
    ("no operators", {"template": {"id": "sys_data_validation", "operator_params": []}}, "ModelArts.0104"),
    ("unknown operator", {"template": _op("NoSuchThing")}, "ModelArts.4396"),
    ("GAN", {"template": template("sys_data_augmentation", ("StyleGAN", {}))}, "ModelArts.4396"),
    (
        "operator of another template",
        {"template": template("sys_data_validation", ("Flip", {}))},
        "ModelArts.4396",
    ),
    ("bad operator parameter", {"template": _op("MetaValidation", image_max_width="wide")}, "ModelArts.0104"),
    (
        "task_type mismatch",
        {"template": _op("MetaValidation", task_type="object_detection")},
        "ModelArts.4399",
    ),
    (
        "bad do_validation",
        {"template": template("sys_data_augmentation", ("Flip", {"do_validation": "maybe"}))},
        "ModelArts.0104",
    ),
    ("bad total_status", {"template": _op("MetaValidation", total_status="[7]")}, "ModelArts.0104"),
    ("no input", {"inputs": None}, "ModelArts.0104"),
    ("CUSTOM input", {"inputs": [{"type": "CUSTOM", "source": "x"}]}, "ModelArts.0104"),
    ("two inputs that differ", {"data_source": {"type": "DATASET", "source": "other"}}, "ModelArts.0104"),
    ("unknown input version", {"version_id": "nope"}, "ModelArts.4353"),
    ("bad work_path type", {"work_path": {"type": "FTP", "path": "x"}}, "ModelArts.0104"),
]


@pytest.mark.parametrize(("case", "change", "code"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_bodies_are_400(
    world: World, bad: dict[str, Any], case: str, change: dict[str, Any], code: str
) -> None:
    before = get(world, "/processor-tasks")["count"]
    response = world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=_body(bad, **change))
    assert_error(response, 400, code)
    assert get(world, "/processor-tasks")["count"] == before


def test_conflicts_are_400(world: World, bad: dict[str, Any]) -> None:
    body = _body(bad)
    create_task(world, body)
    assert_error(world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=body), 400, "ModelArts.4709")
    into_detection = _body(bad, name=task_name(), work_path={"type": "DATASET", "path": bad["detection"]})
    assert_error(
        world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=into_detection), 400, "ModelArts.4399"
    )
    detection_input = _body(bad, name=task_name(), inputs=[dataset_input(bad["detection"])])
    assert_error(
        world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=detection_input), 400, "ModelArts.4399"
    )
    version = published(world, bad["dataset"])
    taken = _body(
        bad,
        name=task_name(),
        work_path={"type": "DATASET", "path": bad["dataset"], "version_name": version["version_name"]},
    )
    assert_error(world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=taken), 400, "ModelArts.4371")
    task_id = create_task(world, _body(bad, name=task_name()))
    other_template = {"template": template("sys_data_augmentation", ("Flip", {}))}
    assert_error(
        world.alice.aksk.post(world.alice.v2(f"/processor-tasks/{task_id}/versions"), json=other_template),
        400,
    )
    assert_error(
        world.alice.aksk.post(
            world.alice.v2(f"/processor-tasks/{task_id}/versions"), json={"name": "another"}
        ),
        400,
    )
    bad_override = {"template": _op("MetaValidation", image_max_width="x")}
    assert_error(
        world.alice.aksk.post(world.alice.v2(f"/processor-tasks/{task_id}/versions"), json=bad_override), 400
    )
    assert versions_of(world, task_id) == []
    no_output = {
        "name": task_name(),
        "inputs": [{"type": "TASK", "source": task_id}],
        "template": template("sys_data_augmentation", ("Flip", {"do_validation": "False"})),
        "create_version": True,
    }
    assert_error(world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=no_output), 400)


PROCESSOR_ROUTES = [
    r for r in PROJECT_ROUTES if r.path.startswith("/v2/{project_id}/processor-tasks/{task_id}")
]


@pytest.fixture(scope="module")
def mallorys(world: World) -> dict[str, str]:
    """Mallory's dataset, task and finished version."""
    mallory = world.mallory
    dataset_id = mallory.aksk.post(
        mallory.v2("/datasets"),
        json={
            "dataset_name": task_name("m"),
            "dataset_type": 0,
            "data_sources": [{"data_type": 0}],
            "work_path": "/out/m/",
            "work_path_type": 0,
        },
    ).json()["dataset_id"]
    body = validation_body(dataset_id, None, create_version=True)
    response = mallory.aksk.post(mallory.v2("/processor-tasks"), json=body)
    assert response.status_code == 200, response.text
    task_id = response.json()["task_id"]
    version_id = mallory.aksk.get(mallory.v2(f"/processor-tasks/{task_id}/versions")).json()["versions"][0][
        "task_version_id"
    ]
    return {"dataset": dataset_id, "task": task_id, "version": version_id, "name": body["name"]}


@pytest.mark.parametrize("route", PROCESSOR_ROUTES, ids=lambda r: r.id)
def test_other_projects_task_ids_are_404(world: World, mallorys: dict[str, str], route: Any) -> None:
    url = route.url(
        project_id=world.alice.project_id, task_id=mallorys["task"], version_id=mallorys["version"]
    )
    body = {"description": "x"} if route.has_body else None
    response = world.alice.aksk.request(route.method, url, json=body)
    assert_error(response, 404)
    assert mallorys["name"] not in response.text
    mine = world.mallory.aksk.get(world.mallory.v2(f"/processor-tasks/{mallorys['task']}"))
    assert mine.status_code == 200 and mine.json()["description"] == ""
    assert mallorys["task"] not in str(get(world, "/processor-tasks"))


def test_other_projects_datasets_and_tasks_as_inputs_are_404(world: World, mallorys: dict[str, str]) -> None:
    for source in (dataset_input(mallorys["dataset"]), {"type": "TASK", "source": mallorys["task"]}):
        body = validation_body("x", None, inputs=[source])
        assert_error(world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=body), 404)
    own = classes(world, {"cat": 1})
    into = validation_body(own, None, work_path={"type": "DATASET", "path": mallorys["dataset"]})
    assert_error(world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=into), 404)


def test_real_operators_validation_then_augmentation_into_a_version(world: World) -> None:
    """The shipped MetaValidation and Flip (labelarts/ml/processing), chained by TASK input
    into a new dataset version, checked sample by sample."""
    from labelarts.ml.processing import get_operator

    world.services.processing.operators = get_operator
    dataset_id, version_id = wide_and_broken(world)
    add_sample(world.services, dataset_id, ["dog"], with_source=True)  # not an image
    version_id = published(world, dataset_id)["version_id"]
    validate = create_task(world, validation_body(dataset_id, version_id, create_version=True))
    first = wait_version(world, validate, versions_of(world, validate)[0]["task_version_id"])
    assert first["status"] == 2, first
    counts = [first[k] for k in ("unmodified_sample_count", "modified_sample_count", "deleted_sample_count")]
    assert counts == [1, 2, 1]
    modified = all_results(world, validate, first["task_version_id"], result_property="1")
    assert sorted(r["new_source"].rsplit("/", 1)[1] for r in modified) == [
        "cat0_checked.jpg",
        "cat1_checked.jpg",
    ]
    for result in modified:
        assert max(size_of(fetch(result["signed_new_source"]))) <= 32
    augment = create_task(
        world,
        {
            "name": task_name("flip"),
            "inputs": [{"type": "TASK", "source": validate}],
            "work_path": {"type": "DATASET", "path": dataset_id},
            "template": template(
                "sys_data_augmentation",
                (
                    "Flip",
                    {
                        "task_type": "image_classification",
                        "lr_ud": "lr",
                        "flip_p": "1",
                        "do_validation": "False",
                    },
                ),
            ),
            "create_version": True,
        },
    )
    second = wait_version(world, augment, versions_of(world, augment)[0]["task_version_id"])
    assert second["status"] == 2, second
    assert second["origin_sample_count"] == 3 and second["add_sample_count"] == 3
    frozen = all_samples(world, dataset_id, version_id=second["work_path"]["version_id"])
    assert len(frozen) == 6
    by_source = {s["sample_id"]: s for s in frozen}
    for result in all_results(world, augment, second["task_version_id"]):
        added = by_source[result["sample_id"]]
        picture = np.asarray(Image.open(io.BytesIO(fetch(result["signed_new_source"]))).convert("RGB"), float)
        inputs = [r for r in all_results(world, augment, second["task_version_id"], result_property="0")]
        assert added["labels"] and added["labels"][0]["name"] in ("cat", "dog")
        mirrored = [
            np.asarray(Image.open(io.BytesIO(fetch(r["signed_origin_source"]))).convert("RGB"), float)[
                :, ::-1
            ]
            for r in inputs
        ]
        assert any(m.shape == picture.shape and np.abs(m - picture).mean() < 8 for m in mirrored)


# Every operator's bad parameters arrive over HTTP as the call's 400, and create nothing: the
# augmentation cases are the unit tests' table (one or more per operator), plus the others'.
_TEMPLATE_OF = {
    "MetaValidation": "sys_data_validation",
    "PCC": "sys_data_cleaning",
    "SimDeduplication": "sys_data_selection",
    "RRD": "sys_data_selection",
}
OPERATOR_BAD_PARAMETERS: list[tuple[str, dict[str, Any]]] = [
    *BAD_AUGMENTATION_PARAMETERS,
    ("MetaValidation", {"image_max_height": "12.5"}),
    ("PCC", {"n_clusters": "0", "prototype_sample_path": "obs://b/p/"}),
    ("SimDeduplication", {"simlarity_threshold": "1.5"}),
    ("RRD", {"sample_ratio": "0"}),
]


@pytest.mark.parametrize(
    ("name", "params"),
    OPERATOR_BAD_PARAMETERS,
    ids=[f"{n}-{next(iter(p))}" for n, p in OPERATOR_BAD_PARAMETERS],
)
def test_bad_parameters_of_every_operator_are_400(
    world: World, bad: dict[str, Any], name: str, params: dict[str, Any]
) -> None:
    from labelarts.ml.processing import get_operator

    world.services.processing.operators = get_operator  # the shipped ones (reset after each test)
    template_id = _TEMPLATE_OF.get(name, "sys_data_augmentation")
    before = get(world, "/processor-tasks")["count"]
    body = _body(bad, template=template(template_id, (name, {"task_type": "image_classification", **params})))
    response = world.alice.aksk.post(world.alice.v2("/processor-tasks"), json=body)
    assert_error(response, 400, "ModelArts.0104")
    assert next(iter(params)) in response.json()["error_msg"]
    assert get(world, "/processor-tasks")["count"] == before
