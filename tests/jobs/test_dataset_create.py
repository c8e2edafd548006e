"""A dataset and its initial import task are one unit of work: when queueing the import fails,
no dataset is left behind (no status 0 forever, no name taken)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Tenant, assert_error


def test_a_dataset_whose_import_cannot_be_queued_is_not_created(tenant: Tenant, import_root: Path) -> None:
    (import_root / "texts").mkdir()
    (import_root / "texts" / "a.txt").write_text("hello\tgreeting\n")
    body = {
        "dataset_name": "texts",
        "dataset_type": 100,
        "data_sources": [{"data_type": 0, "data_path": str(import_root / "texts")}],
        "work_path": "/w/",
        "work_path_type": 0,
        # Accepted field by field, refused as a whole when the import task is built.
        "label_format": {"label_type": "1", "text_sample_separator": ",", "text_label_separator": ","},
    }
    assert_error(tenant.aksk.post(tenant.v2("/datasets"), json=body), 400)
    listed = tenant.aksk.get(tenant.v2("/datasets")).json()
    assert listed["total_number"] == 0, listed

    body["label_format"] = {"label_type": "1", "text_sample_separator": "\t", "text_label_separator": ","}
    created = tenant.aksk.post(tenant.v2("/datasets"), json=body)
    assert created.status_code == 201, created.text  # the name was never taken
