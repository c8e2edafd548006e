"""Dataset labels: create, list, modify and rename, delete (with their samples and sources)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import delete

from labelarts.storage.db import counters
from labelarts.storage.db.models import Label, Sample, SampleLabel
from tests.api import World, add_sample, sample_labels, shared_world, unique_name
from tests.conftest import Tenant, assert_error, create_dataset

SUCCESS = {"success": True}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("labels")) as w:
        yield w


def labels_path(tenant: Tenant, dataset_id: str, suffix: str = "") -> str:
    return tenant.v2(f"/datasets/{dataset_id}/data-annotations/labels{suffix}")


def by_name(name: str) -> str:
    return "/" + quote(name, safe="")


def new_dataset(tenant: Tenant, *labels: str, dataset_type: int = 0) -> str:
    return create_dataset(
        tenant.aksk,
        tenant.project_id,
        unique_name(),
        dataset_type=dataset_type,
        labels=[{"name": name} for name in labels],
    )


def list_labels(
    tenant: Tenant, dataset_id: str, client: httpx.Client | None = None, **params: Any
) -> dict[str, Any]:
    response = (client or tenant.aksk).get(labels_path(tenant, dataset_id), params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"labels", "total_number"}
    assert type(body["total_number"]) is int
    return body


def labels_by_name(tenant: Tenant, dataset_id: str) -> dict[str, dict[str, Any]]:
    return {label["name"]: label for label in list_labels(tenant, dataset_id)["labels"]}


def create_labels(tenant: Tenant, dataset_id: str, labels: list[dict[str, Any]]) -> None:
    response = tenant.aksk.post(labels_path(tenant, dataset_id), json={"labels": labels})
    assert response.status_code == 200, response.text
    assert response.json() == SUCCESS


# --- create and list --------------------------------------------------------------------


def test_create_and_list(user: httpx.Client, alice: Tenant) -> None:
    dataset_id = new_dataset(alice)
    cat = {
        "name": "Cat",
        "property": {"@modelarts:color": "#3399ff", "@modelarts:default_shape": "bndbox"},
        "attributes": [
            {"name": "fur", "type": "select", "values": [{"id": "1", "value": "long"}]},
        ],
    }
    response = user.post(labels_path(alice, dataset_id), json={"labels": [cat, {"name": "Dog", "type": 1}]})
    assert response.status_code == 200, response.text
    assert response.json() == SUCCESS

    body = list_labels(alice, dataset_id, user)
    assert body["total_number"] == 2
    listed = {label["name"]: label for label in body["labels"]}
    assert listed["Cat"]["type"] == 0
    assert listed["Cat"]["property"] == cat["property"]
    assert listed["Cat"]["attributes"] == cat["attributes"]
    assert listed["Dog"]["type"] == 1  # an explicit type is kept
    assert listed["Dog"]["property"] == {}
    # The dataset detail shows the same labels.
    detail = user.get(alice.v2(f"/datasets/{dataset_id}")).json()
    assert {label["name"] for label in detail["labels"]} == {"Cat", "Dog"}


@pytest.mark.parametrize(
    ("dataset_type", "label_type"),
    [(0, 0), (1, 1), (3, 3), (100, 100), (101, 101), (102, 103), (200, 200), (201, 201), (600, 600)],
)
def test_type_defaults_to_the_datasets_label_type(alice: Tenant, dataset_type: int, label_type: int) -> None:
    dataset_id = new_dataset(alice, "from-create", dataset_type=dataset_type)
    create_labels(alice, dataset_id, [{"name": "later"}])
    assert {name: label["type"] for name, label in labels_by_name(alice, dataset_id).items()} == {
        "from-create": label_type,
        "later": label_type,
    }


def test_list_pages(alice: Tenant) -> None:
    names = [f"L{i}" for i in range(7)]
    dataset_id = new_dataset(alice)
    create_labels(alice, dataset_id, [{"name": n} for n in names])
    everything = [label["name"] for label in list_labels(alice, dataset_id)["labels"]]
    assert everything == names  # creation order
    for limit in (1, 2, 3, 7):
        collected: list[str] = []
        for offset in range(-(-len(names) // limit) + 1):  # one page past the end
            body = list_labels(alice, dataset_id, limit=limit, offset=offset)
            assert body["total_number"] == len(names)
            page = [label["name"] for label in body["labels"]]
            assert page == names[offset * limit : (offset + 1) * limit]
            collected += page
        assert collected == names


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": -5}, {"limit": "abc"}, {"limit": 100_001}, {"offset": -1}, {"offset": "abc"}],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_list_rejects_bad_parameters(alice: Tenant, params: dict[str, Any]) -> None:
    dataset_id = new_dataset(alice, "Cat")
    assert_error(alice.aksk.get(labels_path(alice, dataset_id), params=params), 400)


@pytest.mark.parametrize(
    "labels",
    [[{"name": "Cat"}], [{"name": "New"}, {"name": "Cat"}], [{"name": "New"}, {"name": "New"}]],
    ids=["existing", "existing-in-a-batch", "twice-in-one-request"],
)
def test_duplicate_label_is_4411_and_nothing_is_created(alice: Tenant, labels: list[dict[str, Any]]) -> None:
    dataset_id = new_dataset(alice, "Cat")
    response = alice.aksk.post(labels_path(alice, dataset_id), json={"labels": labels})
    assert_error(response, 400, "ModelArts.4411")
    assert list(labels_by_name(alice, dataset_id)) == ["Cat"]


INVALID_CREATE: dict[str, Any] = {
    "no-labels": {},
    "empty-labels": {"labels": []},
    "labels-null": {"labels": None},
    "labels-object": {"labels": {"name": "x"}},
    "no-name": {"labels": [{"type": 0}]},
    "empty-name": {"labels": [{"name": ""}]},
    "name-number": {"labels": [{"name": 7}]},
    "name-slash": {"labels": [{"name": "a/b"}]},
    "name-backslash": {"labels": [{"name": "a\\b"}]},
    "name-edge-space": {"labels": [{"name": " cat"}]},
    "name-newline": {"labels": [{"name": "ca\nt"}]},
    "name-nul": {"labels": [{"name": "ca\x00t"}]},
    "name-1025": {"labels": [{"name": "n" * 1025}]},
    "unknown-type": {"labels": [{"name": "x", "type": 7}]},
    "type-string": {"labels": [{"name": "x", "type": "0"}]},
    "property-list": {"labels": [{"name": "x", "property": ["#fff"]}]},
    "color-number": {"labels": [{"name": "x", "property": {"@modelarts:color": 3}}]},
    "bad-shape": {"labels": [{"name": "x", "property": {"@modelarts:default_shape": "triangle"}}]},
    "property-nested": {"labels": [{"name": "x", "property": {"k": {"a": 1}}}]},
    "attribute-name": {"labels": [{"name": "x", "attributes": [{"name": "a<b"}]}]},
    "attribute-type": {"labels": [{"name": "x", "attributes": [{"type": "radio"}]}]},
}


@pytest.mark.parametrize("body", INVALID_CREATE.values(), ids=INVALID_CREATE.keys())
def test_create_rejects_invalid_labels(alice: Tenant, body: dict[str, Any]) -> None:
    dataset_id = new_dataset(alice, "Cat")
    assert_error(alice.aksk.post(labels_path(alice, dataset_id), json=body), 400)
    assert list(labels_by_name(alice, dataset_id)) == ["Cat"]


# --- modify and rename ------------------------------------------------------------------


def test_batch_update_changes_property_and_renames_with_samples(world: World, user: httpx.Client) -> None:
    alice = world.alice
    dataset_id = new_dataset(alice, "Cat", "Dog")
    only_cat = add_sample(world.services, dataset_id, ["Cat"])
    both = add_sample(world.services, dataset_id, ["Cat", "Dog"])
    only_dog = add_sample(world.services, dataset_id, ["Dog"])
    response = user.put(
        labels_path(alice, dataset_id),
        json={
            "labels": [
                {
                    "name": "Cat",
                    "property": {"@modelarts:color": "#8a1524", "@modelarts:rename_to": "pussycat"},
                },
                {
                    "name": "Dog",
                    "property": {"@modelarts:shortcut": "D"},
                    "attributes": [{"name": "breed", "type": "text"}],
                },
            ]
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == SUCCESS
    labels = labels_by_name(alice, dataset_id)
    assert set(labels) == {"pussycat", "Dog"}
    assert labels["pussycat"]["property"] == {"@modelarts:color": "#8a1524"}  # rename_to is not kept
    assert labels["Dog"]["property"] == {"@modelarts:shortcut": "D"}
    assert labels["Dog"]["attributes"] == [{"name": "breed", "type": "text"}]
    assert labels["pussycat"]["attributes"] == []
    assert sample_labels(world.services, dataset_id) == {
        only_cat: ("MANUAL_ANNOTATION", ["pussycat"]),
        both: ("MANUAL_ANNOTATION", ["Dog", "pussycat"]),
        only_dog: ("MANUAL_ANNOTATION", ["Dog"]),
    }


@pytest.mark.parametrize(
    ("rename_to", "code"),
    [
        ("Dog", "ModelArts.4411"),
        ("a/b", None),
        ("", None),
        (" padded", None),
        ("n" * 1025, None),
        ("tab\there", None),
    ],
    ids=["taken", "slash", "empty", "edge-space", "too-long", "control-char"],
)
@pytest.mark.parametrize("how", ["batch", "by-name"])
def test_bad_rename_is_400_and_changes_nothing(
    world: World, alice: Tenant, how: str, rename_to: str, code: str | None
) -> None:
    dataset_id = new_dataset(alice, "Cat", "Dog")
    sample = add_sample(world.services, dataset_id, ["Cat"])
    prop = {"@modelarts:color": "#000000", "@modelarts:rename_to": rename_to}
    if how == "batch":
        response = alice.aksk.put(
            labels_path(alice, dataset_id), json={"labels": [{"name": "Cat", "property": prop}]}
        )
    else:
        response = alice.aksk.put(labels_path(alice, dataset_id, "/Cat"), json=prop)
    assert_error(response, 400, code)
    labels = labels_by_name(alice, dataset_id)
    assert set(labels) == {"Cat", "Dog"}
    assert labels["Cat"]["property"] == {}
    assert sample_labels(world.services, dataset_id) == {sample: ("MANUAL_ANNOTATION", ["Cat"])}


def test_put_by_name_updates_the_property(user: httpx.Client, alice: Tenant) -> None:
    dataset_id = new_dataset(alice)
    create_labels(
        alice,
        dataset_id,
        [{"name": "Cat", "property": {"@modelarts:color": "#3399ff", "@modelarts:shortcut": "C"}}],
    )
    response = user.put(labels_path(alice, dataset_id, "/Cat"), json={"@modelarts:color": "#93c47d"})
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert labels_by_name(alice, dataset_id)["Cat"]["property"] == {
        "@modelarts:color": "#93c47d",
        "@modelarts:shortcut": "C",
    }


def test_put_by_name_renames_with_samples(world: World, alice: Tenant) -> None:
    dataset_id = new_dataset(alice, "Cat")
    sample = add_sample(world.services, dataset_id, ["Cat"])
    response = alice.aksk.put(labels_path(alice, dataset_id, "/Cat"), json={"@modelarts:rename_to": "Kitty"})
    assert response.status_code == 204, response.text
    assert list(labels_by_name(alice, dataset_id)) == ["Kitty"]
    assert sample_labels(world.services, dataset_id) == {sample: ("MANUAL_ANNOTATION", ["Kitty"])}


@pytest.mark.parametrize(("label_type", "status"), [(0, 204), (1, 400)])
def test_put_by_name_honours_label_type(alice: Tenant, label_type: int, status: int) -> None:
    dataset_id = new_dataset(alice, "Cat")
    response = alice.aksk.put(
        labels_path(alice, dataset_id, "/Cat"),
        params={"label_type": label_type},
        json={"@modelarts:color": "#111111"},
    )
    assert response.status_code == status, response.text
    expected = {"@modelarts:color": "#111111"} if status == 204 else {}
    assert labels_by_name(alice, dataset_id)["Cat"]["property"] == expected


@pytest.mark.parametrize(
    "body",
    [[], ["#fff"], "x", None, {"@modelarts:color": 3}, {"@modelarts:default_shape": "blob"}, {"k": [1]}],
    ids=["array", "array-of-str", "string", "null", "color-number", "bad-shape", "nested"],
)
def test_put_by_name_rejects_bad_bodies(alice: Tenant, body: object) -> None:
    dataset_id = new_dataset(alice, "Cat")
    assert_error(alice.aksk.put(labels_path(alice, dataset_id, "/Cat"), json=body), 400)
    assert labels_by_name(alice, dataset_id)["Cat"]["property"] == {}


UNICODE_NAMES = ["草莓", "big cat", "50%", "a#b", "a?b", "ü-ß", "🍓", "a+b", "a&b=c"]


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_names_that_need_url_encoding(world: World, user: httpx.Client, name: str) -> None:
    alice = world.alice
    dataset_id = new_dataset(alice, name, "other")
    sample = add_sample(world.services, dataset_id, [name])
    kept = add_sample(world.services, dataset_id, [name, "other"])
    response = user.put(labels_path(alice, dataset_id, by_name(name)), json={"@modelarts:color": "#93c47d"})
    assert response.status_code == 204, response.text
    assert labels_by_name(alice, dataset_id)[name]["property"] == {"@modelarts:color": "#93c47d"}

    response = user.delete(labels_path(alice, dataset_id, by_name(name)))
    assert response.status_code == 204, response.text
    assert list(labels_by_name(alice, dataset_id)) == ["other"]
    assert sample_labels(world.services, dataset_id) == {kept: ("MANUAL_ANNOTATION", ["other"])}
    assert sample not in sample_labels(world.services, dataset_id)  # it carried only that label


# --- delete -----------------------------------------------------------------------------


def populate(world: World, dataset_id: str) -> dict[str, str]:
    """Samples with the label sets that matter for deletion, each with a source object."""
    layout = {"cat": ["Cat"], "cat+dog": ["Cat", "Dog"], "dog": ["Dog"], "bird": ["Bird"], "none": []}
    return {
        key: add_sample(world.services, dataset_id, names, with_source=True) for key, names in layout.items()
    }


def source_exists(world: World, dataset_id: str, sample_id: str) -> bool:
    return world.services.objects.exists(f"datasets/{dataset_id}/data/{sample_id}.jpg")


@pytest.mark.parametrize("policy", [0, 1, 2])
def test_batch_delete_policies(world: World, user: httpx.Client, policy: int) -> None:
    alice = world.alice
    dataset_id = new_dataset(alice, "Cat", "Dog", "Bird")
    s = populate(world, dataset_id)
    response = user.post(
        labels_path(alice, dataset_id, "/delete"),
        params={"delete_policy": policy},
        json={"labels": [{"name": "Cat"}]},
    )
    assert response.status_code == 200, response.text
    assert response.json() == SUCCESS
    assert set(labels_by_name(alice, dataset_id)) == {"Dog", "Bird"}

    expected = {
        s["cat+dog"]: ("MANUAL_ANNOTATION", ["Dog"]),
        s["dog"]: ("MANUAL_ANNOTATION", ["Dog"]),
        s["bird"]: ("MANUAL_ANNOTATION", ["Bird"]),
        s["none"]: ("UN_ANNOTATION", []),
    }
    if policy == 0:  # the label only: its sample stays, unlabeled
        expected[s["cat"]] = ("UN_ANNOTATION", [])
    assert sample_labels(world.services, dataset_id) == expected
    assert source_exists(world, dataset_id, s["cat"]) == (policy != 2)
    for key in ("cat+dog", "dog", "bird", "none"):
        assert source_exists(world, dataset_id, s[key])


def test_batch_delete_of_several_labels_removes_samples_carrying_only_those(
    world: World, alice: Tenant
) -> None:
    dataset_id = new_dataset(alice, "Cat", "Dog", "Bird")
    s = populate(world, dataset_id)
    response = alice.aksk.post(
        labels_path(alice, dataset_id, "/delete"),
        params={"delete_policy": 1},
        json={"labels": [{"name": "Cat"}, {"name": "Dog"}]},
    )
    assert response.status_code == 200, response.text
    assert sample_labels(world.services, dataset_id) == {
        s["bird"]: ("MANUAL_ANNOTATION", ["Bird"]),
        s["none"]: ("UN_ANNOTATION", []),
    }
    assert list(labels_by_name(alice, dataset_id)) == ["Bird"]


def test_batch_delete_default_policy_keeps_samples(world: World, alice: Tenant) -> None:
    dataset_id = new_dataset(alice, "Cat", "Dog", "Bird")
    s = populate(world, dataset_id)
    response = alice.aksk.post(labels_path(alice, dataset_id, "/delete"), json={"labels": [{"name": "Cat"}]})
    assert response.status_code == 200, response.text
    assert len(sample_labels(world.services, dataset_id)) == len(s)


@pytest.mark.parametrize("delete_source", [None, "false", "true"])
def test_delete_by_name_removes_samples_carrying_only_that_label(
    world: World, user: httpx.Client, delete_source: str | None
) -> None:
    alice = world.alice
    dataset_id = new_dataset(alice, "Cat", "Dog", "Bird")
    s = populate(world, dataset_id)
    params = {"delete_source": delete_source} if delete_source else {}
    response = user.delete(labels_path(alice, dataset_id, "/Cat"), params=params)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert set(labels_by_name(alice, dataset_id)) == {"Dog", "Bird"}
    assert sample_labels(world.services, dataset_id) == {
        s["cat+dog"]: ("MANUAL_ANNOTATION", ["Dog"]),
        s["dog"]: ("MANUAL_ANNOTATION", ["Dog"]),
        s["bird"]: ("MANUAL_ANNOTATION", ["Bird"]),
        s["none"]: ("UN_ANNOTATION", []),
    }
    assert source_exists(world, dataset_id, s["cat"]) == (delete_source != "true")
    assert source_exists(world, dataset_id, s["cat+dog"])


@pytest.mark.parametrize(("label_type", "status"), [(0, 204), (1, 400)])
def test_delete_by_name_honours_label_type(alice: Tenant, label_type: int, status: int) -> None:
    dataset_id = new_dataset(alice, "Cat")
    response = alice.aksk.delete(labels_path(alice, dataset_id, "/Cat"), params={"label_type": label_type})
    assert response.status_code == status, response.text
    assert ("Cat" in labels_by_name(alice, dataset_id)) == (status != 204)


@pytest.mark.parametrize("policy", ["3", "-1", "abc", "1.5", ""])
def test_bad_delete_policy_is_400_and_deletes_nothing(world: World, alice: Tenant, policy: str) -> None:
    dataset_id = new_dataset(alice, "Cat")
    sample = add_sample(world.services, dataset_id, ["Cat"])
    response = alice.aksk.post(
        labels_path(alice, dataset_id, "/delete"),
        params={"delete_policy": policy},
        json={"labels": [{"name": "Cat"}]},
    )
    assert_error(response, 400)
    assert list(labels_by_name(alice, dataset_id)) == ["Cat"]
    assert sample_labels(world.services, dataset_id) == {sample: ("MANUAL_ANNOTATION", ["Cat"])}


def unknown_label_calls() -> list[Any]:
    return [
        pytest.param(
            "PUT",
            "",
            {"labels": [{"name": "Nope", "property": {"@modelarts:color": "#000000"}}]},
            id="batch-put",
        ),
        pytest.param("PUT", "", {"labels": [{"name": "Cat"}, {"name": "Nope"}]}, id="batch-put-partly"),
        pytest.param("POST", "/delete", {"labels": [{"name": "Nope"}]}, id="batch-delete"),
        pytest.param(
            "POST",
            "/delete?delete_policy=1",
            {"labels": [{"name": "Cat"}, {"name": "Nope"}]},
            id="batch-delete-partly",
        ),
        pytest.param(
            "POST", "/delete", {"labels": [{"name": "Cat", "type": 1}]}, id="batch-delete-wrong-type"
        ),
        pytest.param("PUT", "/Nope", {"@modelarts:color": "#000000"}, id="put-by-name"),
        pytest.param("DELETE", "/Nope", None, id="delete-by-name"),
        pytest.param("DELETE", "/cat", None, id="names-are-case-sensitive"),
    ]


@pytest.mark.parametrize(("method", "suffix", "body"), unknown_label_calls())
def test_unknown_label_is_4410_and_changes_nothing(
    world: World, alice: Tenant, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    dataset_id = new_dataset(alice, "Cat")
    sample = add_sample(world.services, dataset_id, ["Cat"])
    response = alice.aksk.request(method, labels_path(alice, dataset_id, suffix), json=body)
    assert_error(response, 400, "ModelArts.4410")
    assert labels_by_name(alice, dataset_id)["Cat"]["property"] == {}
    assert sample_labels(world.services, dataset_id) == {sample: ("MANUAL_ANNOTATION", ["Cat"])}


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("POST", "", {"labels": [{"name": "x"}]}),
        ("PUT", "", {"labels": [{"name": "x"}]}),
        ("POST", "/delete", {"labels": [{"name": "x"}]}),
        ("PUT", "/x", {}),
        ("DELETE", "/x", None),
    ],
)
def test_unknown_dataset_is_404(alice: Tenant, method: str, suffix: str, body: dict[str, Any] | None) -> None:
    response = alice.aksk.request(method, labels_path(alice, "noSuchDataset000000", suffix), json=body)
    assert_error(response, 404)


# --- malformed input never causes a 5xx --------------------------------------------------

GARBAGE: dict[str, object] = {
    "null": None,
    "true": True,
    "huge-int": 10**30,
    "nan": float("nan"),
    "empty-string": "",
    "unicode": "草莓🍓\u200f",
    "nul": "a\x00b",
    "1MB": "x" * 1_000_000,
    "list": [1, "a", None],
    "nested": {"a": [{"b": {"c": [None, {"d": "草莓"}]}}]},
}


def _label_cases() -> list[Any]:
    """Junk in every place of each label body. The three batch endpoints share one request
    model, so the shape cases (``labels`` itself, a whole label) run on POST only; the places
    each endpoint acts on (names, properties with rename_to, attributes) run on all three."""
    cases = []
    batch = (("POST", ""), ("PUT", ""), ("POST", "/delete?delete_policy=2"))
    for gid, junk in GARBAGE.items():
        for body_id, body in (
            ("color", {"@modelarts:color": junk}),
            ("value", {"free-key": junk}),
            ("rename", {"@modelarts:rename_to": junk}),
            ("body", junk),
        ):
            cases.append(pytest.param("PUT", "/Cat", body, id=f"put-by-name-{body_id}-{gid}"))
        cases.append(pytest.param("POST", "", {"labels": junk}, id=f"POST-labels-{gid}"))
        cases.append(pytest.param("POST", "", {"labels": [junk]}, id=f"POST-label-{gid}"))
        cases.append(
            pytest.param("POST", "", {"labels": [{"name": "N", "type": junk}]}, id=f"POST-type-{gid}")
        )
        for method, suffix in batch:
            op = f"{method}{suffix.split('?')[0].replace('/', '-')}"
            for label_id, label in (
                ("name", {"name": junk}),
                ("property", {"name": "Cat", "property": junk}),
                ("property-values", {"name": "Cat", "property": {"@modelarts:rename_to": junk, "k": junk}}),
                ("attributes", {"name": "Cat", "attributes": junk}),
                (
                    "attribute-values",
                    {"name": "Cat", "attributes": [{"name": junk, "values": [{"value": junk}]}]},
                ),
            ):
                cases.append(pytest.param(method, suffix, {"labels": [label]}, id=f"{op}-{label_id}-{gid}"))
    return cases


@dataclass
class Target:
    """A dataset with labels Cat and Dog and one sample labeled Cat. A test that may have
    changed it sets ``dirty``; the next test then resets it through the storage layer (much
    faster than creating a dataset over HTTP for each of hundreds of cases)."""

    dataset_id: str
    dirty: bool = True


@pytest.fixture(scope="module")
def garbage_dataset(world: World) -> Target:
    return Target(new_dataset(world.alice, "Cat", "Dog"))


@pytest.fixture
def target(world: World, garbage_dataset: Target) -> Target:
    dataset_id = garbage_dataset.dataset_id
    if garbage_dataset.dirty:
        with world.services.db.session() as session:
            session.execute(delete(SampleLabel).where(SampleLabel.dataset_id == dataset_id))
            session.execute(delete(Sample).where(Sample.dataset_id == dataset_id))
            counters.rebuild(session, dataset_id)
            session.execute(delete(Label).where(Label.dataset_id == dataset_id))
            for name in ("Cat", "Dog"):
                session.add(Label(dataset_id=dataset_id, name=name, type=0, property={}, attributes=[]))
        add_sample(world.services, dataset_id, ["Cat"])
        garbage_dataset.dirty = False
    return garbage_dataset


@pytest.mark.parametrize(("method", "suffix", "body"), _label_cases())
def test_garbage_never_causes_5xx(
    alice: Tenant, target: Target, method: str, suffix: str, body: object
) -> None:
    dataset_id = target.dataset_id
    target.dirty = True
    response = alice.aksk.request(
        method,
        labels_path(alice, dataset_id, suffix),
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert_error(response, response.status_code)
        target.dirty = False  # a refused request changes nothing (checked by other tests)
        return
    # Whatever was accepted reads back.
    for path in (labels_path(alice, dataset_id), alice.v2(f"/datasets/{dataset_id}/data-annotations/stats")):
        read = alice.aksk.get(path)
        assert read.status_code == 200, read.text


RAW_BODIES: dict[str, bytes | None] = {
    "none": None,
    "empty": b"",
    "not-json": b"{labels",
    "array": b'[{"name": "Cat"}]',
    "number": b"1",
    "deep": b"[" * 50_000 + b"]" * 50_000,
    "nan": b'{"labels": [{"name": "Cat", "property": {"k": NaN}}]}',
    "latin1": '{"labels": [{"name": "caf\xe9"}]}'.encode("latin-1"),
}


@pytest.mark.parametrize("raw", RAW_BODIES.values(), ids=RAW_BODIES.keys())
@pytest.mark.parametrize(
    ("method", "suffix"), [("POST", ""), ("PUT", ""), ("POST", "/delete"), ("PUT", "/Cat")]
)
def test_garbage_bodies_are_400(
    alice: Tenant, target: Target, method: str, suffix: str, raw: bytes | None
) -> None:
    dataset_id = target.dataset_id
    response = alice.aksk.request(
        method,
        labels_path(alice, dataset_id, suffix),
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert_error(response, 400)
    assert labels_by_name(alice, dataset_id)["Cat"]["property"] == {}


PATH_NAMES = ["a\x00b", "x" * 5000, "..", " ", "\t", "%00", "草莓" * 300, "a\\b"]


@pytest.mark.parametrize("name", PATH_NAMES, ids=lambda v: repr(v)[:16])
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_garbage_label_names_in_the_path(alice: Tenant, target: Target, method: str, name: str) -> None:
    dataset_id = target.dataset_id
    body = {"@modelarts:color": "#000000"} if method == "PUT" else None
    response = alice.aksk.request(method, labels_path(alice, dataset_id, by_name(name)), json=body)
    assert response.status_code < 500, response.text
    assert_error(response, response.status_code)
    assert list(labels_by_name(alice, dataset_id)) == ["Cat", "Dog"]


@pytest.mark.parametrize(
    "params", [{"label_type": "abc"}, {"label_type": 10**30}, {"delete_source": "maybe"}]
)
def test_garbage_query_parameters_by_name(alice: Tenant, target: Target, params: dict[str, Any]) -> None:
    path = labels_path(alice, target.dataset_id, "/Cat")
    assert_error(alice.aksk.delete(path, params=params), 400)
    assert list(labels_by_name(alice, target.dataset_id)) == ["Cat", "Dog"]


# --- concurrency --------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["create", "rename"])
def test_concurrent_requests_for_one_name_give_one_winner(world: World, alice: Tenant, how: str) -> None:
    """The uniqueness check and the insert are not atomic: the database constraint decides, and
    the losers get 4411, not a 500."""
    dataset_id = new_dataset(alice, *[f"src{i}" for i in range(8)])

    def attempt(i: int) -> httpx.Response:
        if how == "create":
            return alice.aksk.post(labels_path(alice, dataset_id), json={"labels": [{"name": "Same"}]})
        body = {"labels": [{"name": f"src{i}", "property": {"@modelarts:rename_to": "Same"}}]}
        return alice.aksk.put(labels_path(alice, dataset_id), json=body)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(attempt, range(8)))
    assert sorted(r.status_code for r in responses) == [200] + [400] * 7, [r.text for r in responses]
    for response in responses:
        if response.status_code == 400:
            assert_error(response, 400, "ModelArts.4411")
    assert list(labels_by_name(alice, dataset_id)).count("Same") == 1
