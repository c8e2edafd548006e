"""NUL cannot be stored in PostgreSQL text: every new route refuses it with a 4xx, never a 500."""

from __future__ import annotations

import json
from urllib.parse import quote

from tests.conftest import Tenant, create_dataset


def test_nul_in_ids_and_fields_of_versions_exports_and_metrics_is_4xx(tenant: Tenant) -> None:
    ds = create_dataset(tenant.aksk, tenant.project_id, "nul-probe")
    c = tenant.aksk
    for method, url, body in [
        ("GET", tenant.v2(f"/datasets/{ds}/data-annotations/samples?version_id=a%00b"), None),
        ("GET", tenant.v2(f"/datasets/{ds}/versions/a%00b"), None),
        ("DELETE", tenant.v2(f"/datasets/{ds}/versions/a%00b"), None),
        ("GET", tenant.v2(f"/datasets/{ds}/export-tasks/a%00b"), None),
        ("POST", tenant.v2(f"/datasets/{ds}/export-tasks/a%00b/stop"), None),
        ("POST", tenant.v2(f"/datasets/{ds}/versions"), {"version_name": "v1", "sample_state": "a\x00"}),
        ("POST", tenant.v2(f"/datasets/{ds}/export-tasks"), {"path": "/x/", "version_id": "a\x00"}),
        (
            "POST",
            tenant.v2(f"/datasets/{ds}/export-tasks"),
            {"path": "/x/", "export_params": {"samples": ["a\x00"]}},
        ),
        (
            "POST",
            tenant.v2(f"/datasets/{ds}/export-tasks"),
            {"export_params": {"export_dest": "NEW_DATASET", "export_new_dataset_name": "a\x00"}},
        ),
        ("GET", tenant.v2(f"/datasets/{ds}/metrics?start_time=0&end_time=1&workforce_task_id=a%00"), None),
    ]:
        r = c.request(method, url, json=body)
        assert 400 <= r.status_code < 500, (method, url, body, r.text)
        assert set(r.json()) >= {"error_code", "error_msg"}


def test_nul_in_the_sample_lists_filters_is_4xx_or_nothing_found(tenant: Tenant) -> None:
    """The filters a page's total is read with (label name, state) and the others: NUL can match
    no stored value, so the answer is a 4xx or an empty page, never a 500."""
    ds = create_dataset(tenant.aksk, tenant.project_id, "nul-filters")
    for path in ("data-annotations/samples", "auto-annotations/samples"):
        for filters in (
            "label_name=a%00b",
            "sample_state=a%00",
            "label_name=a%00&sample_state=UN_ANNOTATION",
            "email=a%00%40b.c",
            "search_conditions=" + quote(json.dumps([{"labels": ["a\x00"]}])),
            "search_conditions=" + quote(json.dumps([{"sample_name": "a\x00"}])),
            "search_conditions=" + quote(json.dumps([{"metadata": {"k\x00": "v"}}])),
        ):
            r = tenant.aksk.get(tenant.v2(f"/datasets/{ds}/{path}?{filters}"))
            if r.status_code == 200:
                assert r.json() == {"sample_count": 0, "samples": []}, (path, filters)
            else:
                assert 400 <= r.status_code < 500, (path, filters, r.text)
                assert set(r.json()) >= {"error_code", "error_msg"}


def test_nul_in_the_worker_task_search_is_4xx_or_nothing_found(tenant: Tenant) -> None:
    r = tenant.aksk.get(tenant.v2("/workforces/worker-tasks?search_content=a%00b"))
    if r.status_code == 200:
        assert r.json()["worker_tasks"] == []
    else:
        assert 400 <= r.status_code < 500, r.text
        assert set(r.json()) >= {"error_code", "error_msg"}
