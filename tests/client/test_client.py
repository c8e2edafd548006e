"""``labelarts.client.LabelArtsClient`` against a live server, signed with AK/SK or a token."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import httpx
import pytest

from labelarts.client import LabelArtsClient, LabelArtsError
from labelarts.schemas.responses import DatasetCreated, Label
from tests.conftest import PASSWORD, LiveServer, Tenant

UNKNOWN_ID = "0123456789abcdef0123456789abcdef"
UNICODE_NAMES = ["草莓 red", "100% ripe", "a+b&c=d?#"]


@pytest.fixture(params=["aksk", "login"])
def api(request: pytest.FixtureRequest, live_server: LiveServer, tenant: Tenant) -> Iterator[LabelArtsClient]:
    """The tenant's client, once with access keys and once logged in with a password."""
    if request.param == "aksk":
        client = LabelArtsClient(
            live_server.url,
            tenant.project_id,
            access_key=tenant.creds.access_key,
            secret_key=tenant.creds.secret_key,
        )
    else:
        client = LabelArtsClient(live_server.url, tenant.project_id)
        token = client.login(tenant.creds.user, PASSWORD)
        assert token and token != tenant.token
    with client:
        yield client


def names(labels: Sequence[Label]) -> list[str]:
    return [label.name for label in labels]


def new_dataset(api: LabelArtsClient, name: str, labels: list[str]) -> DatasetCreated:
    return api.create_dataset(
        name,
        dataset_type=0,
        data_sources=[],
        work_path="/out/work/",
        work_path_type=0,
        labels=[{"name": n} for n in labels],
    )


def test_every_method(api: LabelArtsClient) -> None:
    created = new_dataset(api, "berries", ["a", "b"])
    assert created.to_dict().keys() == {"dataset_id", "import_task_id"}
    ds = created.dataset_id
    assert created.import_task_id is not None

    task = api.get_import_task(ds, created.import_task_id)
    assert (task.task_id, task.dataset_id) == (created.import_task_id, ds)

    listed = api.list_datasets(search_content="berr", limit=5)
    assert listed.total_number == 1
    assert [d.dataset_id for d in listed.datasets] == [ds]
    assert api.list_datasets(search_content="nothing-like-it").total_number == 0

    assert api.get_dataset(ds).dataset_name == "berries"
    assert api.update_dataset(ds, description="ripe ones").dataset_id == ds
    assert api.get_dataset(ds).description == "ripe ones"

    stats = api.get_dataset_stats(ds)
    assert names(stats.label_stats) == ["a", "b"]
    assert stats.sample_stats["total"] == 0

    labels = api.list_labels(ds)
    assert (names(labels.labels), labels.total_number) == (["a", "b"], 2)

    assert api.create_labels(ds, [{"name": "c"}]).success is True
    renamed = api.update_labels(ds, [{"name": "c", "property": {"@modelarts:rename_to": "d"}}])
    assert renamed.success is True
    assert names(api.list_labels(ds).labels) == ["a", "b", "d"]

    api.update_label(ds, "d", {"@modelarts:color": "#ff0000"})
    [d] = [label for label in api.list_labels(ds).labels if label.name == "d"]
    assert d.property["@modelarts:color"] == "#ff0000"

    assert api.delete_labels(ds, ["d"], delete_policy=1).success is True
    api.delete_label_and_samples(ds, "b")
    assert names(api.list_labels(ds).labels) == ["a"]

    raw = api.request("GET", f"/datasets/{ds}/data-annotations/labels", params={"limit": 1})
    assert [label["name"] for label in raw["labels"]] == ["a"]

    api.delete_dataset(ds)
    with pytest.raises(LabelArtsError) as gone:
        api.get_dataset(ds)
    assert gone.value.status == gone.value.status_code == 404


def test_closed_client_refuses_requests(live_server: LiveServer, tenant: Tenant) -> None:
    with LabelArtsClient(
        live_server.url,
        tenant.project_id,
        access_key=tenant.creds.access_key,
        secret_key=tenant.creds.secret_key,
    ) as client:
        assert client.list_datasets().total_number == 0
    with pytest.raises(RuntimeError):
        client.list_datasets()


@pytest.mark.parametrize("name", UNICODE_NAMES)
def test_label_names_round_trip_through_the_url(api: LabelArtsClient, name: str) -> None:
    ds = new_dataset(api, "unicode", [name, "other"]).dataset_id

    api.update_label(ds, name, {"@modelarts:color": "#00ff00"})

    [label] = [label for label in api.list_labels(ds).labels if label.name == name]
    assert label.property["@modelarts:color"] == "#00ff00"
    api.delete_label_and_samples(ds, name)
    assert names(api.list_labels(ds).labels) == ["other"]
    # The same characters in a signed query string.
    assert api.list_datasets(search_content=name).total_number == 0


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        pytest.param("unknown-dataset", 404, "ModelArts.4352", id="unknown-dataset"),
        pytest.param("wrong-secret-key", 401, None, id="wrong-secret-key"),
        pytest.param("wrong-password", 401, None, id="wrong-password"),
        pytest.param("other-project", 403, None, id="other-project"),
    ],
)
def test_errors_carry_the_modelarts_fields(
    live_server: LiveServer, tenant: Tenant, case: str, status: int, code: str | None
) -> None:
    creds = tenant.creds
    project_id = "b" * 32 if case == "other-project" else creds.project_id
    secret_key = "not-the-secret" if case == "wrong-secret-key" else creds.secret_key
    client = LabelArtsClient(live_server.url, project_id, access_key=creds.access_key, secret_key=secret_key)

    with client, pytest.raises(LabelArtsError) as raised:
        if case == "wrong-password":
            client.login(creds.user, "not-the-password")
        else:
            client.get_dataset(UNKNOWN_ID)

    error = raised.value
    assert error.status_code == status
    assert error.error_code.startswith("ModelArts.")
    if code is not None:
        assert error.error_code == code
    assert error.error_msg
    assert re.fullmatch(r"[0-9a-f]{32}", error.request_id)
    assert str(error) == f"{status} {error.error_code}: {error.error_msg} (request {error.request_id})"


@pytest.mark.parametrize(
    "response",
    [
        pytest.param(httpx.Response(502, text="<html>Bad Gateway</html>"), id="html"),
        pytest.param(httpx.Response(500, json=["not", "an", "error", "body"]), id="json-list"),
    ],
)
def test_errors_that_are_not_modelarts_bodies(response: httpx.Response) -> None:
    response.headers["X-Request-Id"] = "proxy-1"
    transport = httpx.MockTransport(lambda request: response)

    client = LabelArtsClient("http://proxy.invalid", UNKNOWN_ID, token="t", transport=transport)

    with client, pytest.raises(LabelArtsError) as raised:
        client.list_datasets()

    error = raised.value
    assert (error.status_code, error.error_code, error.request_id) == (response.status_code, "", "proxy-1")
    assert error.error_msg == response.text[:200]
