"""GET /metrics: request series by route template, task series read from the database."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from labelarts.clock import now_ms
from labelarts.storage.db.models import Task
from tests.api import wait_for_import
from tests.conftest import LiveServer, Tenant, assert_error
from tests.ops import server_with

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, **headers: str) -> Samples:
    response = httpx.get(f"{url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def test_requests_and_tasks_are_counted(live_server: LiveServer, tenant: Tenant) -> None:
    url, pid = live_server.url, tenant.project_id
    response = tenant.aksk.post(
        tenant.v2("/datasets"),
        json={
            "dataset_name": "metered",
            "dataset_type": 0,
            "data_sources": [{"data_type": 0}],
            "work_path": "/out/work/",
            "work_path_type": 0,
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    import_path = tenant.v2(f"/datasets/{created['dataset_id']}/import-tasks/{created['import_task_id']}")
    wait_for_import(tenant.aksk, import_path)
    for _ in range(3):
        assert tenant.aksk.get(tenant.v2("/datasets")).status_code == 200
    assert_error(tenant.aksk.get(tenant.v2("/datasets/nosuchdataset")), 404)
    assert_error(httpx.get(f"{url}/v2/{pid}/datasets"), 401)  # answered before routing
    assert_error(httpx.get(f"{url}/no/such/path/{uuid.uuid4().hex}"), 404)
    # A task waiting in the queue for a minute: of a kind no worker takes, so none claims it
    # between the scrape's queries.
    with live_server.services.db.session() as session:
        session.add(
            Task(
                id=uuid.uuid4().hex,
                project_id=pid,
                dataset_id=created["dataset_id"],
                kind="never-claimed",
                status="QUEUED",
                create_time=now_ms() - 60_000,
                update_time=now_ms(),
            )
        )

    samples = scrape(url)
    requests = "labelarts_http_requests_total"
    datasets, one_dataset = "/v2/{project_id}/datasets", "/v2/{project_id}/datasets/{dataset_id}"
    assert value(samples, requests, method="GET", route=datasets, status="200") == 3
    assert value(samples, requests, method="POST", route=datasets, status="201") == 1
    assert value(samples, requests, method="GET", route=one_dataset, status="404") == 1
    assert value(samples, requests, method="GET", route=datasets, status="401") == 1
    assert value(samples, requests, method="GET", route="<unmatched>", status="404") == 1
    histogram = "labelarts_http_request_duration_seconds_count"
    assert value(samples, histogram, method="GET", route=datasets, status="200") == 3
    latency = value(
        samples, "labelarts_http_request_duration_seconds_sum", method="GET", route=datasets, status="200"
    )
    assert latency is not None and latency > 0
    # Templates only: no id or raw path becomes a label value.
    labels = {v for _, pairs in samples for _, v in pairs}
    assert not any(pid in v or created["dataset_id"] in v or "/no/such" in v for v in labels)

    assert value(samples, "labelarts_tasks", kind="import", status="SUCCEEDED") == 1
    assert value(samples, "labelarts_tasks", kind="import", status="QUEUED") == 0
    assert value(samples, "labelarts_tasks", kind="never-claimed", status="QUEUED") == 1
    assert value(samples, "labelarts_tasks", kind="never-claimed", status="RUNNING") == 0
    waited = value(samples, "labelarts_tasks_oldest_queued_seconds", kind="never-claimed")
    assert waited is not None and 60 <= waited < 3600
    assert value(samples, "labelarts_task_duration_seconds_count", kind="import", status="SUCCEEDED") == 1
    took = value(samples, "labelarts_task_duration_seconds_sum", kind="import", status="SUCCEEDED")
    assert took is not None and took >= 0
    assert value(samples, "labelarts_task_metrics_up") == 1
    # The scrape itself is counted, from the next one on.
    assert value(scrape(url), requests, method="GET", route="/metrics", status="200") == 1


def test_metrics_token_and_switch(tmp_path: Path, database_url: str) -> None:
    with server_with(tmp_path, database_url, metrics_token="scrape-secret") as server:
        assert_error(httpx.get(f"{server.url}/metrics"), 401)
        assert_error(httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer wrong"}), 401)
        samples = scrape(server.url, Authorization="Bearer scrape-secret")
        assert value(samples, "labelarts_task_metrics_up") == 1
    with server_with(tmp_path, database_url, metrics_enabled=False) as server:
        assert_error(httpx.get(f"{server.url}/metrics"), 404)
        assert httpx.get(f"{server.url}/health").status_code == 200
