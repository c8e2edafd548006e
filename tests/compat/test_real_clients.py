"""The real third-party clients of COMPATIBILITY.md against a LabelArts server on loopback.

huaweicloudsdkcore signs with AK/SK exactly as every generated Huawei SDK client does;
openstacksdk + otcextensions log in through the IAM token endpoint and find the
``modelartsv2`` service in the catalog.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pytest

from tests.conftest import PASSWORD, LiveServer, Tenant

huawei_client = pytest.importorskip("huaweicloudsdkcore.client")
from huaweicloudsdkcore.auth.credentials import BasicCredentials  # noqa: E402
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException  # noqa: E402
from huaweicloudsdkcore.sdk_response import SdkResponse  # noqa: E402


class RawResponse(SdkResponse):  # type: ignore[misc]
    """A model without fields: the SDK keeps the body in ``raw_content``."""

    openapi_types: ClassVar[dict[str, str]] = {}
    attribute_map: ClassVar[dict[str, str]] = {}


def huawei(server: LiveServer, tenant: Tenant, project_id: str | None = None) -> Any:
    credentials = BasicCredentials(
        tenant.creds.access_key, tenant.creds.secret_key, project_id or tenant.project_id
    )
    return (
        huawei_client.ClientBuilder(huawei_client.Client)
        .with_credentials(credentials)
        .with_endpoint(server.url)
        .build()
    )


def call(client: Any, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = client.do_http_request(method, path, response_type=RawResponse, **kwargs)
    return response.status_code, json.loads(response.raw_content) if response.raw_content else None


def test_huawei_sdk_signs_requests_we_accept(live_server: LiveServer, tenant: Tenant) -> None:
    client = huawei(live_server, tenant)
    pid = {"project_id": tenant.project_id}
    status, body = call(
        client,
        "POST",
        "/v2/{project_id}/datasets",
        path_params=pid,
        body={
            "dataset_name": "sdk-made",
            "data_sources": [],
            "work_path": "/o/x/",
            "work_path_type": 0,
            "labels": [{"name": "猫"}, {"name": "dog"}],
        },
    )
    assert status == 201 and body["dataset_id"]
    dataset_id = body["dataset_id"]
    status, body = call(
        client,
        "GET",
        "/v2/{project_id}/datasets",
        path_params=pid,
        query_params=[("limit", 10), ("offset", 0), ("search_content", "sdk-made")],
    )
    assert status == 200
    assert [d["dataset_id"] for d in body["datasets"]] == [dataset_id]
    status, body = call(
        client,
        "GET",
        "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels",
        path_params={**pid, "dataset_id": dataset_id},
    )
    assert status == 200 and {label["name"] for label in body["labels"]} == {"猫", "dog"}
    status, _ = call(
        client,
        "PUT",
        "/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels/{label_name}",
        path_params={**pid, "dataset_id": dataset_id, "label_name": "猫"},
        body={"@modelarts:color": "#93c47d"},
    )
    assert status == 204


def test_huawei_sdk_reads_our_error_bodies(live_server: LiveServer, tenant: Tenant) -> None:
    client = huawei(live_server, tenant)
    with pytest.raises(ClientRequestException) as raised:
        call(
            client,
            "GET",
            "/v2/{project_id}/datasets/{dataset_id}",
            path_params={"project_id": tenant.project_id, "dataset_id": "does-not-exist"},
        )
    assert raised.value.status_code == 404
    assert raised.value.error_code == "ModelArts.4352"
    assert raised.value.error_msg
    assert raised.value.request_id


def test_huawei_sdk_on_another_project_is_403(
    live_server: LiveServer, tenant: Tenant, other_tenant: Tenant
) -> None:
    client = huawei(live_server, tenant, project_id=other_tenant.project_id)
    with pytest.raises(ClientRequestException) as raised:
        call(client, "GET", "/v2/{project_id}/datasets", path_params={"project_id": other_tenant.project_id})
    assert raised.value.status_code == 403


# openstacksdk warns about its own deprecated settings at connect time; not ours to fix.
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::PendingDeprecationWarning")
def test_openstacksdk_with_otcextensions(live_server: LiveServer, tenant: Tenant) -> None:
    openstack = pytest.importorskip("openstack")
    otc = pytest.importorskip("otcextensions.sdk")
    conn = openstack.connect(
        load_yaml_config=False,
        load_envvars=False,
        auth_type="password",
        auth_url=f"{live_server.url}/v3",
        username="alice",
        password=PASSWORD,
        user_domain_name="Default",
        project_id=tenant.project_id,
    )
    otc.register_otc_extensions(conn)
    created = conn.modelartsv2.create_dataset(
        dataset_name="otc-made", data_sources=[{"data_type": 0}], work_path="/o/otc/", work_path_type=0
    )
    assert created.id
    # Without limit, otcextensions pages by total_number, incrementing offset by one:
    # offset must be a page number. 12 datasets need two pages of the default 10.
    for i in range(11):
        conn.modelartsv2.create_dataset(
            dataset_name=f"otc-{i}", data_sources=[], work_path="/o/otc/", work_path_type=0
        )
    names = [d.name for d in conn.modelartsv2.datasets()]
    assert sorted(names) == sorted(["otc-made", *(f"otc-{i}" for i in range(11))])
    fetched = conn.modelartsv2.get_dataset(created.id)
    assert fetched.name == "otc-made"
    task = conn.modelartsv2.get_dataset_import_task(created.id, fetched.import_task_id)
    assert task.status == "COMPLETED"
