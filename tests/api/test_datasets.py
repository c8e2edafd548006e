"""Datasets: create, detail, list, modify, delete, the initial import task, and malformed input."""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from labelarts.storage.db.models import Label, Sample
from tests.api import World, add_sample, shared_world, unique_name, wait_for_import
from tests.conftest import Tenant, assert_error, create_dataset

# Integer fields must be JSON numbers, not booleans or strings (COMPATIBILITY 1.2 "typing").
INT, BOOL, STR, LIST = "int", "bool", "str", "list"
DETAIL_FIELDS = {
    "annotated_sample_count": INT,
    "annotated_sub_sample_count": INT,
    "content_labeling": BOOL,
    "create_time": INT,
    "data_format": STR,
    "data_sources": LIST,
    "data_update_time": INT,
    "dataset_format": INT,
    "dataset_id": STR,
    "dataset_name": STR,
    "dataset_tags": LIST,
    "dataset_type": INT,
    "dataset_version_count": INT,
    "deleted_sample_count": INT,
    "description": STR,
    "enterprise_project_id": STR,
    "exist_running_task": BOOL,
    "exist_workforce_task": BOOL,
    "feature_supports": LIST,
    "import_data": BOOL,
    "import_task_id": STR,
    "inner_annotation_path": STR,
    "inner_data_path": STR,
    "inner_log_path": STR,
    "inner_task_path": STR,
    "inner_temp_path": STR,
    "inner_work_path": STR,
    "label_task_count": INT,
    "labels": LIST,
    "loading_sample_count": INT,
    "managed": BOOL,
    "next_version_num": INT,
    "running_tasks_id": LIST,
    "status": INT,
    "total_sample_count": INT,
    "total_sub_sample_count": INT,
    "unconfirmed_sample_count": INT,
    "update_time": INT,
    "work_path": STR,
    "work_path_type": INT,
    "workforce_task_count": INT,
    "workspace_id": STR,
}
LIST_ONLY_OMITS = {"labels"}  # the list returns labels only with with_labels=true


def check_type(value: object, kind: str) -> bool:
    if kind == INT:
        return type(value) is int
    if kind == BOOL:
        return type(value) is bool
    return isinstance(value, str if kind == STR else list)


def assert_dataset_fields(body: dict[str, Any], *, with_labels: bool = True) -> None:
    for field, kind in DETAIL_FIELDS.items():
        if field in LIST_ONLY_OMITS and not with_labels:
            continue
        assert field in body, f"{field} missing"
        assert check_type(body[field], kind), f"{field} should be {kind}: {body[field]!r}"


def valid_body(**changes: object) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dataset_name": unique_name(),
        "dataset_type": 0,
        "data_sources": [{"data_type": 0}],
        "work_path": "/out/work/",
        "work_path_type": 0,
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("datasets")) as w:
        yield w


def describe(tenant: Tenant, dataset_id: str) -> dict[str, Any]:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def dataset_count(tenant: Tenant) -> int:
    response = tenant.aksk.get(tenant.v2("/datasets"), params={"limit": 1})
    assert response.status_code == 200, response.text
    total: int = response.json()["total_number"]
    return total


# --- create and detail ----------------------------------------------------------------


def test_create_returns_201_with_ids_and_detail_matches(
    world: World, user: httpx.Client, alice: Tenant
) -> None:
    labels = [
        {"name": "Rabbits", "property": {"@modelarts:color": "#3399ff"}},
        {"name": "Bees", "type": 0, "property": {}},
    ]
    body = valid_body(description="just a test", labels=labels)
    response = user.post(alice.v2("/datasets"), json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"dataset_id", "import_task_id"}
    assert isinstance(created["dataset_id"], str) and created["dataset_id"]
    assert isinstance(created["import_task_id"], str) and created["import_task_id"]

    detail = user.get(alice.v2(f"/datasets/{created['dataset_id']}"))
    assert detail.status_code == 200, detail.text
    ds = detail.json()
    assert_dataset_fields(ds)
    assert ds["dataset_id"] == created["dataset_id"]
    assert ds["dataset_name"] == body["dataset_name"]
    assert ds["dataset_type"] == 0
    assert ds["description"] == "just a test"
    assert ds["import_task_id"] == created["import_task_id"]
    assert ds["work_path"] == "/out/work/"
    assert ds["inner_work_path"] == f"/out/work/{body['dataset_name']}-{ds['dataset_id']}/"
    assert ds["data_sources"][0]["data_type"] == 0
    assert ds["total_sample_count"] == ds["annotated_sample_count"] == 0
    assert [(label["name"], label["type"], label["property"]) for label in ds["labels"]] == [
        ("Rabbits", 0, {"@modelarts:color": "#3399ff"}),
        ("Bees", 0, {}),
    ]
    assert abs(ds["create_time"] - time.time() * 1000) < 60_000  # epoch milliseconds


@pytest.mark.parametrize("name", ["a" * 100, "A-z_09", "x"])
def test_create_accepts_names_at_the_edges(alice: Tenant, name: str) -> None:
    dataset_id = create_dataset(alice.aksk, alice.project_id, name)
    assert describe(alice, dataset_id)["dataset_name"] == name
    # Names are unique per project: free the name again.
    assert alice.aksk.delete(alice.v2(f"/datasets/{dataset_id}")).status_code == 204


def test_duplicate_name_on_create_is_4351(alice: Tenant) -> None:
    name = unique_name()
    create_dataset(alice.aksk, alice.project_id, name)
    before = dataset_count(alice)
    response = alice.aksk.post(alice.v2("/datasets"), json=valid_body(dataset_name=name))
    assert_error(response, 400, "ModelArts.4351")
    assert dataset_count(alice) == before


CREATE_INVALID: dict[str, Any] = {
    "name-empty": valid_body(dataset_name=""),
    "name-101-chars": valid_body(dataset_name="a" * 101),
    "name-space": valid_body(dataset_name="my set"),
    "name-unicode": valid_body(dataset_name="数据集"),
    "name-slash": valid_body(dataset_name="a/b"),
    "name-dot": valid_body(dataset_name="a.b"),
    "name-number": valid_body(dataset_name=123),
    "name-null": valid_body(dataset_name=None),
    "missing-dataset_name": {k: v for k, v in valid_body().items() if k != "dataset_name"},
    "missing-data_sources": {k: v for k, v in valid_body().items() if k != "data_sources"},
    "missing-work_path": {k: v for k, v in valid_body().items() if k != "work_path"},
    "unknown-dataset_type": valid_body(dataset_type=5),
    "dataset_type-string": valid_body(dataset_type="0"),
    "dataset_type-float": valid_body(dataset_type=1.5),
    "dataset_type-bool": valid_body(dataset_type=True),
    "data_sources-object": valid_body(data_sources={"data_type": 0}),
    "data_source-type-1": valid_body(data_sources=[{"data_type": 1}]),
    "work_path_type-1": valid_body(work_path_type=1),
    "description-257": valid_body(description="d" * 257),
    **{f"description-{ch}": valid_body(description=f"bad {ch} char") for ch in "^!<>=&\"'"},
    "labels-not-list": valid_body(labels={"name": "a"}),
    "label-twice": valid_body(labels=[{"name": "a"}, {"name": "a"}]),
    "label-bad-type": valid_body(labels=[{"name": "a", "type": 7}]),
}
CREATE_INVALID_RAW: dict[str, bytes] = {
    "not-json": b"{dataset_name: x",
    "json-array": json.dumps([valid_body()]).encode(),
    "empty-body": b"",
    "json-null": b"null",
    "json-string": b'"dataset"',
}


@pytest.mark.parametrize("body", CREATE_INVALID.values(), ids=CREATE_INVALID.keys())
def test_create_rejects_invalid_body(alice: Tenant, body: dict[str, Any]) -> None:
    before = dataset_count(alice)
    assert_error(alice.aksk.post(alice.v2("/datasets"), json=body), 400)
    assert dataset_count(alice) == before


@pytest.mark.parametrize("raw", CREATE_INVALID_RAW.values(), ids=CREATE_INVALID_RAW.keys())
def test_create_rejects_body_that_is_not_an_object(alice: Tenant, raw: bytes) -> None:
    response = alice.aksk.post(
        alice.v2("/datasets"), content=raw, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400)


# --- data sources and the initial import task -------------------------------------------


# Each case: the data_path a user sends, given the test world.
REFUSED: dict[str, Callable[[World], str]] = {
    "outside-roots": lambda w: "/etc",
    "home": lambda w: str(Path(os.environ.get("HOME", "/root")).resolve()),
    "relative": lambda w: "imports",
    "dot-relative": lambda w: "./imports",
    "missing": lambda w: str(w.imports / "does-not-exist"),
    "data-dir": lambda w: str(w.data_dir),
    "inside-data-dir": lambda w: str(w.data_dir / "objects"),
    "parent-of-data-dir": lambda w: str(w.root),
    "dotdot-into-data-dir": lambda w: str(w.imports / ".." / "data"),
    "symlink-to-data-dir": lambda w: str(w.imports / "link-to-data"),
    "symlink-outside": lambda w: str(w.imports / "link-to-etc"),
    "a-file": lambda w: str(w.imports / "file.txt"),
    "nul-byte": lambda w: str(w.imports) + "\x00x",
}


@pytest.fixture(scope="module")
def refusable(world: World) -> World:
    """The files and links the REFUSED cases point at."""
    (world.data_dir / "objects").mkdir(exist_ok=True)
    (world.imports / "file.txt").write_text("not a folder")
    (world.imports / "link-to-data").symlink_to(world.data_dir)
    (world.imports / "link-to-etc").symlink_to("/etc")
    return world


@pytest.mark.parametrize("case", REFUSED)
def test_data_path_must_be_an_importable_folder(alice: Tenant, refusable: World, case: str) -> None:
    before = dataset_count(alice)
    body = valid_body(data_sources=[{"data_type": 0, "data_path": REFUSED[case](refusable)}])
    error = assert_error(alice.aksk.post(alice.v2("/datasets"), json=body), 400)
    assert error["error_code"] in ("ModelArts.4374", "ModelArts.4312", "ModelArts.0104")
    assert dataset_count(alice) == before


def test_import_from_a_folder_imports_its_images_with_class_labels(world: World, alice: Tenant) -> None:
    folder = world.imports / unique_name("pics")
    (folder / "cats").mkdir(parents=True)
    sizes = 0
    for seed, (rel, fmt) in enumerate(
        [("a.jpg", "JPEG"), ("b.jpg", "JPEG"), ("cats/c.jpg", "JPEG"), ("cats/d.png", "PNG")]
    ):
        buffer = io.BytesIO()
        Image.new("RGB", (8 + seed, 6), (seed * 40, 0, 0)).save(buffer, fmt)
        (folder / rel).write_bytes(buffer.getvalue())
        sizes += len(buffer.getvalue())
    response = alice.aksk.post(
        alice.v2("/datasets"), json=valid_body(data_sources=[{"data_type": 0, "data_path": str(folder)}])
    )
    assert response.status_code == 201, response.text
    dataset_id, task_id = response.json()["dataset_id"], response.json()["import_task_id"]

    task = wait_for_import(alice.aksk, alice.v2(f"/datasets/{dataset_id}/import-tasks/{task_id}"))
    assert task["status"] == "COMPLETED", task
    assert "error_code" not in task
    assert task["total_file_count"] == 4
    assert task["total_file_size"] == sizes
    assert task["imported_sample_count"] == 4
    assert task["annotated_sample_count"] == 2
    assert task["failed_files"] == []
    assert task["task_id"] == task_id and task["dataset_id"] == dataset_id
    assert task["import_path"] == str(folder.resolve())
    assert type(task["import_type"]) is int and type(task["create_time"]) is int

    listed = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/import-tasks"))
    assert listed.status_code == 200, listed.text
    assert [t["task_id"] for t in listed.json()["import_tasks"]] == [task_id]
    assert listed.json()["total_count"] == 1

    ds = describe(alice, dataset_id)
    assert ds["status"] == 1
    assert ds["data_sources"][0]["data_path"] == str(folder.resolve())
    assert ds["total_sample_count"] == 4 and ds["annotated_sample_count"] == 2
    assert [label["name"] for label in ds["labels"]] == ["cats"]


def test_dataset_without_data_path_imports_nothing_and_becomes_normal(alice: Tenant) -> None:
    response = alice.aksk.post(alice.v2("/datasets"), json=valid_body())
    assert response.status_code == 201, response.text
    dataset_id, task_id = response.json()["dataset_id"], response.json()["import_task_id"]
    task = wait_for_import(alice.aksk, alice.v2(f"/datasets/{dataset_id}/import-tasks/{task_id}"))
    assert task["status"] == "COMPLETED"
    assert task["total_file_count"] == 0
    assert "error_code" not in task
    ds = describe(alice, dataset_id)
    assert ds["status"] == 1
    assert ds["exist_running_task"] is False and ds["running_tasks_id"] == []


def test_unknown_import_task_is_404(alice: Tenant) -> None:
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name())
    assert_error(alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/import-tasks/nope")), 404)


# --- list -------------------------------------------------------------------------------

# Created in this order, so creation order and name order differ.
CATALOG = [
    ("delta", 0, "holiday photos"),
    ("alpha", 1, ""),
    ("golf", 0, "50% off"),
    ("charlie", 1, "holiday videos"),
    ("echo", 0, ""),
    ("bravo", 0, ""),
    ("foxtrot", 1, ""),
]


@pytest.fixture(scope="module")
def lister(world: World) -> Iterator[Tenant]:
    """A project of its own holding exactly the CATALOG datasets (with one label each)."""
    tenant = world.new_tenant("lister")
    for name, dataset_type, description in CATALOG:
        create_dataset(
            tenant.aksk,
            tenant.project_id,
            name,
            dataset_type=dataset_type,
            description=description,
            labels=[{"name": f"{name}-label"}],
        )
    yield tenant
    tenant.aksk.close()
    tenant.token_client.close()


def list_datasets(tenant: Tenant, client: httpx.Client | None = None, /, **params: Any) -> dict[str, Any]:
    response = (client or tenant.aksk).get(tenant.v2("/datasets"), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= {"datasets", "total_number"}
    return body


def names(body: dict[str, Any]) -> list[str]:
    return [d["dataset_name"] for d in body["datasets"]]


def test_list_returns_datasets_and_total(lister: Tenant, world: World) -> None:
    for client in (lister.aksk, lister.token_client):
        body = list_datasets(lister, client)
        assert body["total_number"] == len(CATALOG)
        assert sorted(names(body)) == sorted(name for name, _, _ in CATALOG)
        for item in body["datasets"]:
            assert_dataset_fields(item, with_labels=False)
            assert "labels" not in item
    # Newest first by default.
    times = [d["create_time"] for d in list_datasets(lister)["datasets"]]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 7])
def test_offset_is_a_page_number(lister: Tenant, limit: int) -> None:
    everything = names(list_datasets(lister, limit=100))
    pages = -(-len(CATALOG) // limit)
    collected: list[str] = []
    for offset in range(pages + 2):  # two pages past the end
        body = list_datasets(lister, limit=limit, offset=offset)
        assert body["total_number"] == len(CATALOG)
        assert names(body) == everything[offset * limit : (offset + 1) * limit]
        collected += names(body)
    assert collected == everything


def test_far_page_is_empty(lister: Tenant) -> None:
    body = list_datasets(lister, limit=100, offset=1000)
    assert body["datasets"] == [] and body["total_number"] == len(CATALOG)


@pytest.mark.parametrize("sort_by", [None, "create_time", "dataset_name"])
def test_asc_is_the_exact_reverse_of_desc(lister: Tenant, sort_by: str | None) -> None:
    params: dict[str, Any] = {"sort_by": sort_by} if sort_by else {}
    desc = list_datasets(lister, limit=100, order="desc", **params)
    asc = list_datasets(lister, limit=100, order="asc", **params)
    assert [d["dataset_id"] for d in asc["datasets"]] == [d["dataset_id"] for d in desc["datasets"]][::-1]
    default = list_datasets(lister, limit=100, **params)
    assert names(default) == names(desc)


def test_sort_by_dataset_name(lister: Tenant) -> None:
    expected = sorted(name for name, _, _ in CATALOG)
    assert names(list_datasets(lister, sort_by="dataset_name", order="asc")) == expected
    assert names(list_datasets(lister, sort_by="dataset_name", order="desc", limit=3)) == (expected[::-1][:3])


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("alpha", ["alpha"]),
        ("ALPH", ["alpha"]),
        ("trot", ["foxtrot"]),
        ("holiday", ["charlie", "delta"]),
        ("50%", ["golf"]),
        ("%", ["golf"]),  # a literal percent sign, not a wildcard
        ("_", []),  # a literal underscore, not a wildcard
        ("zulu", []),
    ],
)
def test_search_content(lister: Tenant, search: str, expected: list[str]) -> None:
    body = list_datasets(lister, search_content=search, limit=100)
    assert sorted(names(body)) == expected
    assert body["total_number"] == len(expected)


def test_search_content_finds_a_whole_dataset_id(lister: Tenant) -> None:
    target = list_datasets(lister, search_content="golf")["datasets"][0]["dataset_id"]
    assert names(list_datasets(lister, search_content=target)) == ["golf"]
    assert list_datasets(lister, search_content=target[:-1])["total_number"] == 0


@pytest.mark.parametrize("dataset_type", [0, 1, 600])
def test_dataset_type_filter(lister: Tenant, dataset_type: int) -> None:
    expected = sorted(name for name, t, _ in CATALOG if t == dataset_type)
    body = list_datasets(lister, dataset_type=dataset_type, limit=100)
    assert sorted(names(body)) == expected
    assert body["total_number"] == len(expected)
    assert {d["dataset_type"] for d in body["datasets"]} <= {dataset_type}


def test_with_labels(lister: Tenant) -> None:
    body = list_datasets(lister, with_labels="true", limit=100)
    for item in body["datasets"]:
        assert_dataset_fields(item)
        assert [label["name"] for label in item["labels"]] == [f"{item['dataset_name']}-label"]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": -5},
        {"limit": "abc"},
        {"limit": ""},
        {"limit": "1.5"},
        {"offset": -1},
        {"offset": "abc"},
        {"order": "up"},
        {"sort_by": "size"},
        {"dataset_type": "abc"},
        {"with_labels": "maybe"},
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_list_rejects_bad_parameters(lister: Tenant, params: dict[str, Any]) -> None:
    assert_error(lister.aksk.get(lister.v2("/datasets"), params=params), 400)


# --- modify -----------------------------------------------------------------------------


def test_modify_name_and_description(user: httpx.Client, alice: Tenant) -> None:
    dataset_id = create_dataset(user, alice.project_id, unique_name())
    before = describe(alice, dataset_id)
    new_name = unique_name("renamed")
    response = user.put(
        alice.v2(f"/datasets/{dataset_id}"), json={"dataset_name": new_name, "description": "new words"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"dataset_id": dataset_id}
    after = describe(alice, dataset_id)
    assert after["dataset_name"] == new_name
    assert after["description"] == "new words"
    assert after["update_time"] >= before["update_time"]
    assert after["inner_work_path"].endswith(f"{new_name}-{dataset_id}/")
    assert names(list_datasets(alice, search_content=new_name)) == [new_name]


def test_modify_labels(alice: Tenant) -> None:
    dataset_id = create_dataset(
        alice.aksk, alice.project_id, unique_name(), labels=[{"name": "Cat"}, {"name": "Dog"}]
    )
    response = alice.aksk.put(
        alice.v2(f"/datasets/{dataset_id}"),
        json={
            "add_labels": [{"name": "Ants", "type": 0, "property": {"@modelarts:color": "#3399ff"}}],
            "update_labels": [{"name": "Cat", "property": {"@modelarts:color": "#8a1524"}}],
            "delete_labels": [{"name": "Dog"}],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"dataset_id": dataset_id}
    labels = {label["name"]: label for label in describe(alice, dataset_id)["labels"]}
    assert set(labels) == {"Cat", "Ants"}
    assert labels["Cat"]["property"] == {"@modelarts:color": "#8a1524"}
    assert labels["Ants"]["property"] == {"@modelarts:color": "#3399ff"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"add_labels": [{"name": "Cat"}]}, "ModelArts.4411"),
        (
            {"update_labels": [{"name": "Nope", "property": {"@modelarts:color": "#000000"}}]},
            "ModelArts.4410",
        ),
        ({"delete_labels": [{"name": "Nope"}]}, "ModelArts.4410"),
        ({"dataset_name": "bad name"}, None),
        ({"dataset_name": "fresh-name", "add_labels": [{"name": "Cat"}]}, "ModelArts.4411"),
        ({"description": "new", "delete_labels": [{"name": "Cat"}, {"name": "Nope"}]}, "ModelArts.4410"),
        ({"description": "a<b"}, None),
        ({"description": "d" * 257}, None),
    ],
    ids=[
        "add-existing",
        "update-unknown",
        "delete-unknown",
        "bad-name",
        "rename-with-bad-label",
        "delete-with-bad-label",
        "bad-description",
        "long-description",
    ],
)
def test_modify_rejects_and_changes_nothing(alice: Tenant, body: dict[str, Any], code: str | None) -> None:
    name = unique_name()
    dataset_id = create_dataset(alice.aksk, alice.project_id, name, labels=[{"name": "Cat"}])
    before = describe(alice, dataset_id)
    assert_error(alice.aksk.put(alice.v2(f"/datasets/{dataset_id}"), json=body), 400, code)
    after = describe(alice, dataset_id)
    assert (after["dataset_name"], after["description"], after["labels"]) == (
        before["dataset_name"],
        before["description"],
        before["labels"],
    )


def test_modify_to_a_taken_name_is_4351(alice: Tenant) -> None:
    taken = unique_name()
    create_dataset(alice.aksk, alice.project_id, taken)
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name())
    response = alice.aksk.put(alice.v2(f"/datasets/{dataset_id}"), json={"dataset_name": taken})
    assert_error(response, 400, "ModelArts.4351")
    assert describe(alice, dataset_id)["dataset_name"] != taken
    # Keeping one's own name is not a clash.
    own = describe(alice, dataset_id)["dataset_name"]
    assert alice.aksk.put(alice.v2(f"/datasets/{dataset_id}"), json={"dataset_name": own}).status_code == 200


def test_a_name_is_free_again_after_delete(alice: Tenant) -> None:
    name = unique_name()
    first = create_dataset(alice.aksk, alice.project_id, name)
    assert alice.aksk.delete(alice.v2(f"/datasets/{first}")).status_code == 204
    second = create_dataset(alice.aksk, alice.project_id, name)
    assert second != first


def test_same_name_in_two_projects(world: World) -> None:
    name = unique_name()
    create_dataset(world.alice.aksk, world.alice.project_id, name)
    create_dataset(world.mallory.aksk, world.mallory.project_id, name)


# --- delete -----------------------------------------------------------------------------


def test_delete_then_404(world: World, user: httpx.Client, alice: Tenant) -> None:
    dataset_id = create_dataset(user, alice.project_id, unique_name(), labels=[{"name": "Cat"}])
    sample = add_sample(world.services, dataset_id, ["Cat"], with_source=True)
    source = f"datasets/{dataset_id}/data/{sample}.jpg"
    assert world.services.objects.exists(source)

    response = user.delete(alice.v2(f"/datasets/{dataset_id}"))
    assert response.status_code == 204, response.text
    assert response.content == b""
    for path in ("", "/data-annotations/labels", "/data-annotations/stats", "/import-tasks"):
        assert_error(user.get(alice.v2(f"/datasets/{dataset_id}{path}")), 404)
    assert_error(user.delete(alice.v2(f"/datasets/{dataset_id}")), 404)
    assert dataset_id not in [d["dataset_id"] for d in list_datasets(alice, limit=100)["datasets"]]
    assert not world.services.objects.exists(source)
    with world.services.db.session() as session:
        assert session.query(Sample).filter_by(dataset_id=dataset_id).count() == 0
        assert session.query(Label).filter_by(dataset_id=dataset_id).count() == 0


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_unknown_dataset_is_404(alice: Tenant, method: str) -> None:
    body = {"description": "x"} if method == "PUT" else None
    response = alice.aksk.request(method, alice.v2("/datasets/doesNotExist123456"), json=body)
    assert_error(response, 404)


# --- other projects ---------------------------------------------------------------------

FOREIGN_CALLS = [
    ("GET", "", None),
    ("PUT", "", {"description": "pwned"}),
    ("DELETE", "", None),
    ("GET", "/data-annotations/stats", None),
    ("GET", "/data-annotations/labels", None),
    ("POST", "/data-annotations/labels", {"labels": [{"name": "x"}]}),
    ("PUT", "/data-annotations/labels", {"labels": [{"name": "secret-label"}]}),
    ("POST", "/data-annotations/labels/delete", {"labels": [{"name": "secret-label"}]}),
    ("PUT", "/data-annotations/labels/secret-label", {"@modelarts:color": "#000000"}),
    ("DELETE", "/data-annotations/labels/secret-label", None),
    ("GET", "/import-tasks", None),
]


@pytest.mark.parametrize(
    ("method", "suffix", "body"), FOREIGN_CALLS, ids=[f"{m} {s or '/'}" for m, s, _ in FOREIGN_CALLS]
)
def test_another_projects_dataset_is_404_under_ones_own_path(
    world: World, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    mallory, alice = world.mallory, world.alice
    secret = unique_name("secret")
    foreign = create_dataset(mallory.aksk, mallory.project_id, secret, labels=[{"name": "secret-label"}])
    response = alice.aksk.request(method, alice.v2(f"/datasets/{foreign}{suffix}"), json=body)
    assert_error(response, 404)
    assert secret not in response.text and "secret-label" not in response.text
    assert mallory.project_id not in response.text
    still = mallory.aksk.get(mallory.v2(f"/datasets/{foreign}"))
    assert still.status_code == 200
    assert still.json()["description"] == ""
    assert [label["name"] for label in still.json()["labels"]] == ["secret-label"]
    assert foreign not in [d["dataset_id"] for d in list_datasets(alice, limit=100)["datasets"]]


def test_another_projects_path_is_403(world: World) -> None:
    foreign = create_dataset(world.mallory.aksk, world.mallory.project_id, unique_name())
    response = world.alice.aksk.get(world.mallory.v2(f"/datasets/{foreign}"))
    assert_error(response, 403)


# --- malformed input never causes a 5xx --------------------------------------------------

MB = "x" * 1_000_000
GARBAGE: dict[str, object] = {
    "null": None,
    "true": True,
    "negative": -1,
    "huge-int": 10**30,
    "nan": float("nan"),  # json.dumps writes NaN / Infinity, which Python's parser accepts
    "empty-string": "",
    "unicode": "草莓🍓\u200f",
    "nul": "a\x00b",
    "1MB": MB,
    "list": [1, "a", None],
    "nested": {"a": [{"b": {"c": [None, {"d": "草莓"}]}}]},
}
DATASET_FIELDS = [
    "dataset_name",
    "dataset_type",
    "data_sources",
    "work_path",
    "work_path_type",
    "description",
    "labels",
    "data_format",
    "label_format",
    "schema",
    "workspace_id",
    "import_annotations",
]
LABEL_FIELDS = ["name", "type", "property", "attributes"]


def _cases() -> list[Any]:
    cases = []
    for field in DATASET_FIELDS:
        for gid, junk in GARBAGE.items():
            cases.append(pytest.param("POST", "", valid_body(**{field: junk}), id=f"create-{field}-{gid}"))
    for gid, junk in GARBAGE.items():
        cases.append(
            pytest.param(
                "POST",
                "",
                valid_body(data_sources=[{"data_type": 0, "data_path": junk}]),
                id=f"create-data_path-{gid}",
            )
        )
        cases.append(
            pytest.param(
                "POST",
                "",
                valid_body(labels=[{"name": "a", "property": {"k": junk}}]),
                id=f"create-prop-{gid}",
            )
        )
        for field in [
            "dataset_name",
            "description",
            "current_version_id",
            "add_labels",
            "update_labels",
            "delete_labels",
        ]:
            cases.append(pytest.param("PUT", "/{ds}", {field: junk}, id=f"modify-{field}-{gid}"))
        for field in LABEL_FIELDS:
            cases.append(
                pytest.param(
                    "PUT", "/{ds}", {"add_labels": [{field: junk}]}, id=f"modify-label-{field}-{gid}"
                )
            )
    return cases


@pytest.fixture(scope="module")
def garbage_target(world: World) -> str:
    return create_dataset(world.alice.aksk, world.alice.project_id, unique_name(), labels=[{"name": "Cat"}])


@pytest.mark.parametrize(("method", "path", "body"), _cases())
def test_garbage_fields_never_cause_5xx(
    alice: Tenant, garbage_target: str, method: str, path: str, body: dict[str, Any]
) -> None:
    content = json.dumps(body).encode()
    response = alice.aksk.request(
        method,
        alice.v2("/datasets" + path.format(ds=garbage_target)),
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code)
        return
    # Whatever was accepted must read back without a 5xx.
    dataset_id = response.json()["dataset_id"] if method == "POST" else garbage_target
    for suffix in ("", "/data-annotations/labels", "/data-annotations/stats"):
        read = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}{suffix}"))
        assert read.status_code == 200, read.text
    listed = alice.aksk.get(alice.v2("/datasets"), params={"with_labels": "true", "limit": 100})
    assert listed.status_code == 200, listed.text


RAW_BODIES: dict[str, bytes | None] = {
    "none": None,
    "empty": b"",
    "null": b"null",
    "array": b"[]",
    "array-of-object": b'[{"dataset_name": "x"}]',
    "number": b"42",
    "string": b'"x"',
    "not-json": b"{not json",
    "truncated": b'{"dataset_name": "a',
    "nan": b'{"dataset_name": NaN, "description": NaN}',
    "infinity": b'{"labels": [{"name": "n", "property": {"k": Infinity}}]}',
    "deep": b"[" * 50_000 + b"]" * 50_000,
    "deep-object": b'{"a":' * 20_000 + b"1" + b"}" * 20_000,
    "latin1": '{"description": "caf\xe9"}'.encode("latin-1"),
    "utf16": json.dumps({"description": "x"}).encode("utf-16"),
    "1MB-string": json.dumps(MB).encode(),
    "dup-keys": b'{"dataset_name": "a", "dataset_name": 1}',
}


@pytest.mark.parametrize("raw", RAW_BODIES.values(), ids=RAW_BODIES.keys())
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_garbage_bodies_never_cause_5xx(
    alice: Tenant, garbage_target: str, method: str, raw: bytes | None
) -> None:
    path = "/datasets" if method == "POST" else f"/datasets/{garbage_target}"
    response = alice.aksk.request(
        method, alice.v2(path), content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code)


QUERY_GARBAGE = ["", "-1", "1e3", "99999999999999999999999", "草莓", "a\x00b", "%", "x" * 4000, "[]", "null"]


@pytest.mark.parametrize("value", QUERY_GARBAGE, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize(
    "param",
    ["limit", "offset", "order", "sort_by", "dataset_type", "search_content", "with_labels", "workspace_id"],
)
def test_garbage_list_parameters_never_cause_5xx(alice: Tenant, param: str, value: str) -> None:
    response = alice.aksk.get(alice.v2("/datasets"), params={param: value})
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        assert_error(response, 400)


@pytest.mark.parametrize(
    "dataset_id",
    [
        "草莓",
        pytest.param("a\x00b", id="nul"),
        "x" * 4000,
        "%25",
        "..",
        "' OR 1=1 --",
        "1" * 40,
    ],
    ids=lambda v: repr(v)[:20],
)
@pytest.mark.parametrize(
    "suffix", ["", "/data-annotations/stats", "/data-annotations/labels", "/import-tasks"]
)
def test_garbage_dataset_ids_are_404(alice: Tenant, dataset_id: str, suffix: str) -> None:
    from urllib.parse import quote

    response = alice.aksk.get(alice.v2(f"/datasets/{quote(dataset_id, safe='')}{suffix}"))
    assert response.status_code < 500, response.text
    assert_error(response, 404)


def test_concurrent_creates_with_one_name_give_one_winner(alice: Tenant) -> None:
    name = unique_name()
    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(
                lambda _: alice.aksk.post(alice.v2("/datasets"), json=valid_body(dataset_name=name)), range(8)
            )
        )
    assert sorted(r.status_code for r in responses) == [201] + [400] * 7, [r.text for r in responses]
    for response in responses:
        if response.status_code == 400:
            assert_error(response, 400, "ModelArts.4351")
    assert names(list_datasets(alice, search_content=name)) == [name]


def test_concurrent_renames_to_one_name_give_one_winner(alice: Tenant) -> None:
    name = unique_name()
    ids = [create_dataset(alice.aksk, alice.project_id, unique_name()) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        responses = list(
            pool.map(lambda i: alice.aksk.put(alice.v2(f"/datasets/{i}"), json={"dataset_name": name}), ids)
        )
    assert sorted(r.status_code for r in responses) == [200] + [400] * 5, [r.text for r in responses]
    for response in responses:
        if response.status_code == 400:
            assert_error(response, 400, "ModelArts.4351")
