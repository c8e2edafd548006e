"""Dataset versions through HTTP: publish, list, detail, delete; what a version froze stays
frozen; the split; the statistics; the manifest imports back; errors; project isolation."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, update

from labelarts.clock import now_ms
from labelarts.jobs.runner import LeaseLost, TaskContext
from labelarts.services.versions import PUBLISH_KIND
from labelarts.storage.db.models import Dataset, DatasetVersion, Task
from tests.api import World, add_sample, unique_name
from tests.conftest import assert_error
from tests.imports import create, jpeg, run_import, voc_xml, world_fixture, write
from tests.versions import _seeds, all_samples, classes, label_view, manifest_lines, published, wait_version

world = world_fixture("versions")


def by_name(world: World, dataset_id: str) -> dict[str, str]:
    """sample name -> sample id of the live dataset."""
    return {s["sample_name"]: s["sample_id"] for s in all_samples(world, dataset_id)}


def put_labels(world: World, dataset_id: str, changes: dict[str, list[str]]) -> None:
    body = {
        "samples": [
            {"sample_id": sample_id, "labels": [{"name": n, "type": 0} for n in names]}
            for sample_id, names in changes.items()
        ]
    }
    response = world.alice.aksk.put(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"), json=body
    )
    assert response.status_code == 200, response.text


def delete_samples(world: World, dataset_id: str, ids: list[str]) -> None:
    response = world.alice.aksk.post(
        world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples/delete"), json={"samples": ids}
    )
    assert response.status_code == 200, response.text


def dataset(world: World, dataset_id: str) -> dict[str, Any]:
    response = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def unsigned(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The samples without their pre-signed ``source`` URLs (their expiry moves)."""
    return [{k: v for k, v in s.items() if k != "source"} for s in samples]


def usages(lines: list[dict[str, Any]]) -> dict[str, str | None]:
    return {line["source"]: line.get("usage") for line in lines}


def class_of(line: dict[str, Any]) -> str | None:
    return line["annotation"][0]["name"] if line.get("annotation") else None


# --- immutability -------------------------------------------------------------------------------


def test_a_version_keeps_what_it_froze(world: World) -> None:
    dataset_id = classes(world, {"cat": 3, "dog": 2}, unlabeled=1)
    version = published(world, dataset_id)
    vid = version["version_id"]
    assert version["version_name"] == "V001" and version["is_current"] is True
    frozen = all_samples(world, dataset_id, version_id=vid)
    assert label_view(frozen) == label_view(all_samples(world, dataset_id))
    manifest = manifest_lines(world, dataset_id, vid)
    assert len(manifest) == 6

    ids = by_name(world, dataset_id)
    put_labels(world, dataset_id, {ids["cat0.jpg"]: ["dog"], ids["dog0.jpg"]: []})
    delete_samples(world, dataset_id, [ids["u0.jpg"], ids["cat1.jpg"]])
    live = label_view(all_samples(world, dataset_id))
    assert live["cat0.jpg"][0][0] == "dog" and "u0.jpg" not in live

    again = all_samples(world, dataset_id, version_id=vid)
    assert unsigned(again) == unsigned(frozen)
    assert manifest_lines(world, dataset_id, vid) == manifest
    detail = wait_version(world, dataset_id, vid)
    assert {k: v for k, v in detail.items() if k != "update_time"} == {
        k: v for k, v in version.items() if k != "update_time"
    }
    # Filters apply to the frozen rows.
    labeled = all_samples(world, dataset_id, version_id=vid, sample_state="__ALL__")
    assert sorted(s["sample_name"] for s in labeled) == [
        "cat0.jpg",
        "cat1.jpg",
        "cat2.jpg",
        "dog0.jpg",
        "dog1.jpg",
    ]
    unlabeled = all_samples(world, dataset_id, version_id=vid, sample_state="__NONE__")
    assert [s["sample_name"] for s in unlabeled] == ["u0.jpg"]
    cats = all_samples(world, dataset_id, version_id=vid, label_name="cat")
    assert sorted(s["sample_name"] for s in cats) == ["cat0.jpg", "cat1.jpg", "cat2.jpg"]
    oldest_first = all_samples(world, dataset_id, version_id=vid, order="asc")
    assert [s["sample_id"] for s in oldest_first] == [s["sample_id"] for s in reversed(frozen)]

    # A second version holds the dataset as it is now.
    second = published(world, dataset_id)
    assert second["version_name"] == "V002" and second["previous_version_id"] == vid
    assert label_view(all_samples(world, dataset_id, version_id=second["version_id"])) == live
    assert second["add_sample_count"] == 0 and second["deleted_sample_count"] == 2
    assert second["modified_sample_count"] == 2  # cat0 relabeled, dog0 unlabeled
    assert second["previous_total_sample_count"] == 6
    assert wait_version(world, dataset_id, vid)["is_current"] is False


def test_deleting_a_version_leaves_the_live_dataset(world: World) -> None:
    dataset_id = classes(world, {"a": 2, "b": 2}, unlabeled=1)
    first = published(world, dataset_id)["version_id"]
    second = published(world, dataset_id)["version_id"]
    live = all_samples(world, dataset_id)
    stats = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    prefix = f"datasets/{dataset_id}/annotation/V002/"
    assert world.services.objects.exists(f"{prefix}V002.manifest")
    assert dataset(world, dataset_id)["current_version_id"] == second

    response = world.alice.aksk.delete(world.alice.v2(f"/datasets/{dataset_id}/versions/{second}"))
    assert response.status_code == 204
    assert unsigned(all_samples(world, dataset_id)) == unsigned(live)
    assert (
        world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json() == stats
    )
    assert not world.services.objects.exists(f"{prefix}V002.manifest")
    assert_error(
        world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/versions/{second}")),
        404,
        "ModelArts.4353",
    )
    assert_error(
        world.alice.aksk.get(
            world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"), params={"version_id": second}
        ),
        400,
        "ModelArts.4353",
    )
    listed = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/versions")).json()
    assert listed["total_number"] == 1 and [v["version_id"] for v in listed["versions"]] == [first]
    body = dataset(world, dataset_id)
    assert body["current_version_id"] == first and body["current_version_name"] == "V001"
    assert body["dataset_version_count"] == 1
    assert len(all_samples(world, dataset_id, version_id=first)) == 5

    response = world.alice.aksk.delete(world.alice.v2(f"/datasets/{dataset_id}/versions/{first}"))
    assert response.status_code == 204
    body = dataset(world, dataset_id)
    assert "current_version_id" not in body and body["dataset_version_count"] == 0
    assert unsigned(all_samples(world, dataset_id)) == unsigned(live)


def test_deleting_the_dataset_deletes_its_versions(world: World) -> None:
    dataset_id = classes(world, {"a": 1})
    vid = published(world, dataset_id)["version_id"]
    assert world.alice.aksk.delete(world.alice.v2(f"/datasets/{dataset_id}")).status_code == 204
    assert not world.services.objects.exists(f"datasets/{dataset_id}/annotation/V001/V001.manifest")
    assert_error(
        world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/versions/{vid}")), 404, "ModelArts.4352"
    )


# --- the split ----------------------------------------------------------------------------------


def test_the_split_is_stratified_and_reproducible(world: World) -> None:
    counts = {"a": 10, "b": 7, "c": 3}
    dataset_id = classes(world, counts, unlabeled=2)
    one = published(world, dataset_id, train_evaluate_sample_ratio="0.7", split_seed=12345)
    two = published(world, dataset_id, train_evaluate_sample_ratio="0.7", split_seed=12345)
    other = published(world, dataset_id, train_evaluate_sample_ratio=0.7, split_seed=999)
    lines = manifest_lines(world, dataset_id, one["version_id"])
    assert usages(lines) == usages(manifest_lines(world, dataset_id, two["version_id"]))
    assert usages(lines) != usages(manifest_lines(world, dataset_id, other["version_id"]))
    assert one["split_seed"] == 12345 and one["train_evaluate_sample_ratio"] == "0.7"
    assert other["train_evaluate_sample_ratio"] == "0.7"

    train = Counter(class_of(line) for line in lines if line.get("usage") == "TRAIN")
    evaluate = Counter(class_of(line) for line in lines if line.get("usage") == "EVAL")
    assert dict(train) == {"a": 7, "b": 5, "c": 2}  # round(n * 0.7) of each class
    assert dict(evaluate) == {"a": 3, "b": 2, "c": 1}
    assert all("usage" not in line for line in lines if class_of(line) is None)
    stats = one["data_statistics"]
    assert (stats["train_sample_count"], stats["evaluate_sample_count"]) == (14, 6)
    assert {x["name"]: x["count"] for x in stats["splits"]["TRAIN"]["label_stats"]} == {
        "a": 7,
        "b": 5,
        "c": 2,
    }

    everything = published(world, dataset_id)
    assert everything["train_evaluate_sample_ratio"] == "1.00"
    assert {line.get("usage") for line in manifest_lines(world, dataset_id, everything["version_id"])} == {
        "TRAIN",
        None,
    }
    none = published(world, dataset_id, train_evaluate_sample_ratio="0")
    assert Counter(line.get("usage") for line in manifest_lines(world, dataset_id, none["version_id"])) == {
        "EVAL": 20,
        None: 2,
    }


def test_remove_sample_usage_false_keeps_imported_usage(world: World, tmp_path: Path) -> None:
    root = world.imports / unique_name("usage")
    lines = [
        f'{{"source": "{root}/{i}.jpg", "usage": "{"EVAL" if i < 3 else "TRAIN"}", '
        f'"annotation": [{{"type": "modelarts/image_classification", "name": "k"}}]}}'
        for i in range(6)
    ]
    write(root, {f"{i}.jpg": jpeg(next(_seeds)) for i in range(6)} | {"in.manifest": "\n".join(lines) + "\n"})
    dataset_id = create(world, 0)
    run_import(world, dataset_id, root / "in.manifest", import_type="manifest")
    kept = published(world, dataset_id, remove_sample_usage=False, train_evaluate_sample_ratio="1")
    got = usages(manifest_lines(world, dataset_id, kept["version_id"]))
    assert got == {f"{root}/{i}.jpg": "EVAL" if i < 3 else "TRAIN" for i in range(6)}
    fresh = published(world, dataset_id, train_evaluate_sample_ratio="1")
    assert set(usages(manifest_lines(world, dataset_id, fresh["version_id"])).values()) == {"TRAIN"}


# --- statistics ---------------------------------------------------------------------------------


def test_statistics_are_exact(world: World) -> None:
    dataset_id = classes(world, {"a": 4, "b": 2}, unlabeled=3)
    for _ in range(2):
        add_sample(world.services, dataset_id, ["a"], status="AUTO_ANNOTATION")
    add_sample(world.services, dataset_id, ["a", "b"])
    live = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")).json()
    version = published(world, dataset_id, train_evaluate_sample_ratio="0.5", split_seed=7)
    assert version["total_sample_count"] == 12
    assert version["annotated_sample_count"] == 7 == live["sample_stats"]["manual_annotation"]
    assert version["label_type"] == "multi"
    assert {(x["name"], x["type"], x["count"], x["sample_count"]) for x in version["label_stats"]} == {
        ("a", 0, 5, 5),
        ("b", 0, 3, 3),
    }
    stats = version["data_statistics"]
    assert stats["unconfirmed_sample_count"] == 2
    assert stats["train_sample_count"] + stats["evaluate_sample_count"] == 7
    for name, count in (("a", 5), ("b", 3)):
        assert (
            sum(
                x["count"]
                for split in stats["splits"].values()
                for x in split["label_stats"]
                if x["name"] == name
            )
            == count
        )
    listed = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/versions")).json()
    assert listed["versions"][0]["label_stats"] == version["label_stats"]

    single = classes(world, {"x": 2, "y": 1})
    assert published(world, single)["label_type"] == "single"


# --- the manifest imports back ------------------------------------------------------------------


def _voc_folder(world: World) -> Path:
    root = world.imports / unique_name("voc")
    boxes = [
        {"name": "Rabbit", "bndbox": (1, 2, 10, 12), "difficult": 1},
        {"name": "Cat", "bndbox": (3.5, 4, 20, 15), "confidence": 0.75},
    ]
    return write(
        root,
        {
            "a.jpg": jpeg(next(_seeds)),
            "a.xml": voc_xml("a.jpg", boxes),
            "b.jpg": jpeg(next(_seeds)),
            "c.jpg": jpeg(next(_seeds)),
            "c.xml": voc_xml("c.jpg", [{"name": "Cat", "bndbox": (0, 0, 5, 5)}]),
        },
    )


def _texts(world: World) -> Path:
    root = world.imports / unique_name("txt")
    long_text = "long " * 2_500  # longer than the sample list keeps
    lines = ["good phone\tpositive", "bad battery\tnegative,angry", "", "no label", f"{long_text}\tlong"]
    return write(root, {"comments.txt": "\n".join(lines) + "\n"})


@pytest.mark.parametrize("kind", ["classes", "boxes", "texts"])
def test_the_manifest_imports_back_identically(world: World, kind: str) -> None:
    if kind == "classes":
        dataset_type, dataset_id = 0, classes(world, {"cat": 2, "dog": 1}, unlabeled=1)
    else:
        dataset_type = 1 if kind == "boxes" else 100
        dataset_id = create(world, dataset_type)
        run_import(world, dataset_id, _voc_folder(world) if kind == "boxes" else _texts(world))
    vid = published(world, dataset_id, train_evaluate_sample_ratio="0.5")["version_id"]
    response = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/versions/{vid}/manifest"))
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/jsonl")
    target = world.imports / unique_name("back")
    write(target, {"V001.manifest": response.content})
    copy = create(world, dataset_type)
    task = run_import(world, copy, target / "V001.manifest", import_type="manifest")
    assert task["failed_file_count"] == 0
    original = label_view(all_samples(world, dataset_id))
    assert label_view(all_samples(world, copy)) == original
    assert any(original.values())
    if kind == "texts":
        texts = {s["sample_name"]: s["sample_data"][0] for s in all_samples(world, copy)}
        assert texts["comments_1.txt"] == "good phone"
        sizes = {s["sample_name"]: s["sample_size"] for s in all_samples(world, copy)}
        assert sizes == {s["sample_name"]: s["sample_size"] for s in all_samples(world, dataset_id)}


def test_csv_version_of_text_classification(world: World) -> None:
    dataset_id = create(world, 100)
    run_import(
        world,
        dataset_id,
        write(world.imports / unique_name("csv"), {"t.txt": "=1+1\tpositive\nplain\tneg\n"}),
    )
    version = published(world, dataset_id, version_format="CSV", with_column_header=True)
    assert version["version_format"] == "CSV"
    data = world.services.objects.get(f"datasets/{dataset_id}/annotation/V001/V001.csv").decode()
    rows = data.splitlines()
    assert rows[0] == "text,label,usage"
    assert sorted(rows[1:]) == ["\t=1+1,positive,TRAIN", "plain,neg,TRAIN"]
    listed = world.alice.aksk.get(
        world.alice.v2(f"/datasets/{dataset_id}/versions"), params={"version_format": 2}
    ).json()
    assert [v["version_id"] for v in listed["versions"]] == [version["version_id"]]


# --- listing ------------------------------------------------------------------------------------


def test_list_filters_and_current_version(world: World) -> None:
    dataset_id = classes(world, {"a": 2})
    v1 = published(world, dataset_id, version_name="first", train_evaluate_sample_ratio="0.5")
    v2 = published(world, dataset_id, description="second one")
    assert v2["version_name"] == "V001" and v2["description"] == "second one"

    def names(**params: Any) -> list[str]:
        response = world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/versions"), params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total_number"] >= len(body["versions"])
        return [v["version_name"] for v in body["versions"]]

    assert names() == ["V001", "first"]
    assert names(status=1) == ["V001", "first"] and names(status=4) == []
    assert names(train_evaluate_ratio="0.4,0.6") == ["first"]
    assert names(limit=1) == ["V001"] and names(limit=1, offset=1) == ["first"] and names(offset=5) == []
    assert names(version_format=0) == ["V001", "first"] and names(version_format=2) == []

    response = world.alice.aksk.put(
        world.alice.v2(f"/datasets/{dataset_id}"), json={"current_version_id": v1["version_id"]}
    )
    assert response.status_code == 200, response.text
    assert wait_version(world, dataset_id, v1["version_id"])["is_current"] is True
    detail = dataset(world, dataset_id)
    assert detail["current_version_name"] == "first"
    assert [v["version_id"] for v in detail["versions"]] == [v1["version_id"]]
    other = classes(world, {"z": 1})
    assert_error(
        world.alice.aksk.put(
            world.alice.v2(f"/datasets/{other}"), json={"current_version_id": v1["version_id"]}
        ),
        400,
        "ModelArts.4353",
    )


# --- errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"version_name": "bad name"},
        {"version_name": "x" * 33},
        {"version_name": ""},
        {"version_name": 5},
        {"train_evaluate_sample_ratio": "1.5"},
        {"train_evaluate_sample_ratio": "-0.1"},
        {"train_evaluate_sample_ratio": "abc"},
        {"train_evaluate_sample_ratio": "nan"},
        {"train_evaluate_sample_ratio": True},
        {"version_format": "Parquet"},
        {"version_format": "CarbonData"},
        {"version_format": "CSV"},
        {"description": "a <b>"},
        {"description": "x" * 257},
        {"clear_hard_property": "yes"},
        {"sample_state": "__BOGUS__"},
        {"split_seed": -1},
        {"split_seed": 2**40},
    ],
)
def test_bad_bodies_are_400(world: World, body: dict[str, Any]) -> None:
    dataset_id = _shared_dataset(world)
    response = world.alice.aksk.post(world.alice.v2(f"/datasets/{dataset_id}/versions"), json=body)
    assert_error(response, 400)


_shared: dict[int, str] = {}


def _shared_dataset(world: World) -> str:
    """One small dataset for the tests that are refused before anything is published."""
    if id(world) not in _shared:
        _shared[id(world)] = classes(world, {"a": 1})
    return _shared[id(world)]


def test_refusals(world: World) -> None:
    dataset_id = classes(world, {"a": 1})
    url = world.alice.v2(f"/datasets/{dataset_id}/versions")
    assert_error(
        world.alice.aksk.post(url, content=b"{not json", headers={"Content-Type": "application/json"}), 400
    )
    assert_error(world.alice.aksk.post(url, json=[1]), 400)
    published(world, dataset_id, version_name="dup")
    assert_error(world.alice.aksk.post(url, json={"version_name": "dup"}), 400, "ModelArts.4371")
    empty = create(world, 0)
    assert_error(
        world.alice.aksk.post(world.alice.v2(f"/datasets/{empty}/versions"), json={}), 400, "ModelArts.4825"
    )
    assert_error(world.alice.aksk.post(url, json={"sample_state": "__NONE__"}), 400, "ModelArts.4825")
    for params in (
        {"status": 9},
        {"status": "x"},
        {"version_format": 5},
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"train_evaluate_ratio": "x"},
        {"train_evaluate_ratio": "0.9,0.1"},
        {"train_evaluate_ratio": "0,2"},
    ):
        assert_error(world.alice.aksk.get(url, params=params), 400)
    for path in ("/nope", "/nope/manifest"):
        assert_error(world.alice.aksk.get(url + path), 404, "ModelArts.4353")
    assert_error(world.alice.aksk.delete(url + "/nope"), 404, "ModelArts.4353")
    samples = world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples")
    vid = published(world, dataset_id)["version_id"]
    conditions = '[{"hard": "1"}]'
    assert_error(
        world.alice.aksk.get(samples, params={"version_id": vid, "search_conditions": conditions}), 400
    )
    assert_error(world.alice.aksk.get(samples, params={"version_id": vid, "sample_state": "__BOGUS__"}), 400)
    assert_error(world.alice.aksk.get(url.replace(dataset_id, "missing")), 404, "ModelArts.4352")


def test_publishing_twice_at_once_is_refused(world: World) -> None:
    dataset_id = classes(world, {"a": 1})
    # A publish of this dataset that a worker elsewhere is running (its lease holds a day).
    running = world.services.tasks.run_here(
        project_id=world.alice.project_id, dataset_id=dataset_id, kind=PUBLISH_KIND, config={}
    )
    url = world.alice.v2(f"/datasets/{dataset_id}/versions")
    assert_error(world.alice.aksk.post(url, json={}), 400, "ModelArts.4343")
    with world.services.db.session() as session:
        session.execute(delete(Task).where(Task.id == running.task_id))
    assert published(world, dataset_id)["status"] == 1


def test_a_version_read_while_its_publish_finishes_is_of_one_moment(world: World) -> None:
    """Publishing's finish makes the version normal and the dataset's current version in one
    transaction; a detail or list read that lands in between must not straddle it (seen on
    PostgreSQL in CI: status 1 but ``is_current`` false)."""
    dataset_id = classes(world, {"a": 1})
    vid = published(world, dataset_id)["version_id"]
    engine = world.services.db.engine

    def unfinish() -> None:
        with world.services.db.session() as session:
            session.execute(update(DatasetVersion).where(DatasetVersion.id == vid).values(status=0))
            session.execute(update(Dataset).where(Dataset.id == dataset_id).values(current_version_id=None))

    finished = threading.Event()

    def finish_before_the_version_is_read(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The request has read the dataset; the finish commits before it reads the version.
        reads_version = statement.startswith("SELECT") and "FROM dataset_versions" in statement
        if finished.is_set() or not reads_version:
            return
        finished.set()
        with world.services.db.session() as session:
            session.execute(update(DatasetVersion).where(DatasetVersion.id == vid).values(status=1))
            session.execute(update(Dataset).where(Dataset.id == dataset_id).values(current_version_id=vid))

    reads = {
        "detail": lambda: wait_version(world, dataset_id, vid),
        "list": lambda: world.alice.aksk.get(world.alice.v2(f"/datasets/{dataset_id}/versions")).json()[
            "versions"
        ][0],
    }
    for name, read in reads.items():
        unfinish()
        finished.clear()
        event.listen(engine, "before_cursor_execute", finish_before_the_version_is_read)
        try:
            seen = read()
        finally:
            event.remove(engine, "before_cursor_execute", finish_before_the_version_is_read)
        assert finished.is_set(), name
        assert seen["is_current"] is (seen["status"] == 1), (name, seen["status"], seen["is_current"])
        after = read()
        assert (after["status"], after["is_current"]) == (1, True), name


# --- projects -----------------------------------------------------------------------------------


def test_another_project_cannot_see_a_version(world: World) -> None:
    dataset_id = classes(world, {"a": 1})
    vid = published(world, dataset_id)["version_id"]
    alice, mallory = world.alice, world.mallory
    for method, path in (
        ("GET", f"/datasets/{dataset_id}/versions"),
        ("GET", f"/datasets/{dataset_id}/versions/{vid}"),
        ("GET", f"/datasets/{dataset_id}/versions/{vid}/manifest"),
        ("DELETE", f"/datasets/{dataset_id}/versions/{vid}"),
        ("POST", f"/datasets/{dataset_id}/versions"),
    ):
        # Alice's project path: 403 whatever the body.
        response = mallory.aksk.request(method, alice.v2(path), json={} if method == "POST" else None)
        body = assert_error(response, 403)
        assert vid not in body["error_msg"] and dataset_id not in body["error_msg"]
        # Alice's ids under Mallory's own project: 404.
        assert_error(
            mallory.aksk.request(method, mallory.v2(path), json={} if method == "POST" else None), 404
        )
    theirs = mallory.aksk.post(
        mallory.v2("/datasets"),
        json={
            "dataset_name": unique_name(),
            "dataset_type": 0,
            "data_sources": [{"data_type": 0}],
            "work_path": "/out/",
            "work_path_type": 0,
        },
    ).json()["dataset_id"]
    assert_error(mallory.aksk.get(mallory.v2(f"/datasets/{theirs}/versions/{vid}")), 404)
    assert_error(
        mallory.aksk.get(
            mallory.v2(f"/datasets/{theirs}/data-annotations/samples"), params={"version_id": vid}
        ),
        400,
        "ModelArts.4353",
    )
    assert_error(mallory.aksk.delete(mallory.v2(f"/datasets/{theirs}/versions/{vid}")), 404)
    assert wait_version(world, dataset_id, vid)["status"] == 1


def test_a_long_freeze_holds_its_task_lease(world: World) -> None:
    """SQLite's freeze keeps the heartbeat out until it commits: the task's lease is taken
    long enough first, in the same transaction, and only by the task's own worker."""
    dataset_id = classes(world, {"a": 1})
    ctx = world.services.tasks.run_here(
        project_id=world.alice.project_id, dataset_id=dataset_id, kind=PUBLISH_KIND + "-lease", config={}
    )
    with world.services.db.session() as session:
        session.execute(update(Task).where(Task.id == ctx.task_id).values(lease_expires_at=now_ms()))
    with world.services.db.session() as session:
        ctx.hold_lease(session, 600)
    with world.services.db.session() as session:
        assert session.get(Task, ctx.task_id).lease_expires_at >= now_ms() + 590_000  # type: ignore[union-attr]
    stranger = TaskContext(world.services.tasks, ctx.task, "someone-else", threading.Event())
    with pytest.raises(LeaseLost), world.services.db.session() as session:
        stranger.hold_lease(session, 600)
    with world.services.db.session() as session:
        session.execute(delete(Task).where(Task.id == ctx.task_id))
