"""``labelarts dataset ...`` and ``labelarts label ...`` against a live server."""

from __future__ import annotations

import subprocess

import pytest

from tests.cli import assert_failed, cli_env, free_port, ok_json, run_cli
from tests.conftest import LiveServer, Tenant, assert_error, create_dataset

# Longer than Rich gives a column in 80 characters: the table must still show it whole.
NAME = "strawberry-field-survey-2024"
UNKNOWN_ID = "0123456789abcdef0123456789abcdef"


def flags(server: LiveServer, tenant: Tenant, *, keys: bool = True, **override: str) -> list[str]:
    """--endpoint, --project-id and (with ``keys``) --ak/--sk options for the tenant."""
    values = {"endpoint": server.url, "project-id": tenant.project_id}
    if keys:
        values.update(ak=tenant.creds.access_key, sk=tenant.creds.secret_key)
    values.update(override)
    return [item for key, value in values.items() for item in (f"--{key}", value)]


def label_names(tenant: Tenant, dataset_id: str) -> list[str]:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/labels"))
    assert response.status_code == 200, response.text
    return [label["name"] for label in response.json()["labels"]]


def test_dataset_and_label_workflow(live_server: LiveServer, tenant: Tenant) -> None:
    auth = flags(live_server, tenant)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, *auth)

    created = ok_json(cli("dataset", "create", NAME, "--label", "a", "--label", "b", "-o", "json"))
    assert set(created) == {"dataset_id", "import_task_id"}
    ds = created["dataset_id"]
    assert label_names(tenant, ds) == ["a", "b"]

    listed = ok_json(cli("dataset", "list", "-o", "json"))
    assert listed["total_number"] == 1
    assert [d["dataset_id"] for d in listed["datasets"]] == [ds]

    table = cli("dataset", "list")
    assert table.returncode == 0, table.stderr
    assert NAME in table.stdout
    assert ds in table.stdout
    assert "1 datasets" in table.stdout

    shown = ok_json(cli("dataset", "show", ds, "-o", "json"))
    assert shown["dataset_id"] == ds
    assert shown["dataset_name"] == NAME
    assert [label["name"] for label in shown["labels"]] == ["a", "b"]

    updated = cli("dataset", "update", ds, "--description", "x")
    assert updated.returncode == 0, updated.stderr
    assert ds in updated.stdout
    assert tenant.aksk.get(tenant.v2(f"/datasets/{ds}")).json()["description"] == "x"

    stats = ok_json(cli("dataset", "stats", ds, "-o", "json"))
    assert [s["name"] for s in stats["label_stats"]] == ["a", "b"]
    assert stats["sample_stats"]["total"] == 0

    labels = ok_json(cli("label", "list", ds, "-o", "json"))
    assert labels["total_number"] == 2
    assert [label["name"] for label in labels["labels"]] == ["a", "b"]

    assert ok_json(cli("label", "create", ds, "c")) == {"success": True}
    assert label_names(tenant, ds) == ["a", "b", "c"]

    assert ok_json(cli("label", "update", ds, "c", "--rename-to", "d")) == {"success": True}
    assert label_names(tenant, ds) == ["a", "b", "d"]

    assert ok_json(cli("label", "delete", ds, "d")) == {"success": True}
    assert label_names(tenant, ds) == ["a", "b"]

    deleted = cli("dataset", "delete", ds)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == ""
    assert_error(tenant.aksk.get(tenant.v2(f"/datasets/{ds}")), 404)


@pytest.mark.parametrize("auth", ["aksk", "token"])
def test_environment_instead_of_flags(live_server: LiveServer, tenant: Tenant, auth: str) -> None:
    ds = create_dataset(tenant.aksk, tenant.project_id, NAME)
    env = cli_env(LABELARTS_ENDPOINT=live_server.url, LABELARTS_PROJECT_ID=tenant.project_id)
    if auth == "aksk":
        env.update(LABELARTS_AK=tenant.creds.access_key, LABELARTS_SK=tenant.creds.secret_key)
    else:
        env.update(LABELARTS_TOKEN=tenant.token)

    listed = ok_json(run_cli("dataset", "list", "-o", "json", env=env))

    assert [(d["dataset_id"], d["dataset_name"]) for d in listed["datasets"]] == [(ds, NAME)]


@pytest.mark.parametrize(
    ("case", "exit_code", "messages"),
    [
        pytest.param("unknown-dataset", 1, ["404", "ModelArts.4352"], id="unknown-dataset"),
        # The name is echoed literally, not read as Rich markup.
        pytest.param("unknown-label", 1, ["ModelArts.4410", "[bold]zz"], id="unknown-label"),
        pytest.param("wrong-secret-key", 1, ["401", "ModelArts."], id="wrong-secret-key"),
        pytest.param("server-down", 1, ["cannot reach http://127.0.0.1:", "refused"], id="server-down"),
        pytest.param("no-credentials", 2, ["no credentials", "labelarts configure"], id="no-credentials"),
        pytest.param("bad-property", 2, ["key=value"], id="bad-property"),
    ],
)
def test_errors_are_one_message_on_stderr(
    live_server: LiveServer, tenant: Tenant, case: str, exit_code: int, messages: list[str]
) -> None:
    ds = create_dataset(tenant.aksk, tenant.project_id, NAME, labels=[{"name": "a"}])
    args = {
        "unknown-dataset": ["dataset", "show", UNKNOWN_ID, *flags(live_server, tenant)],
        "unknown-label": ["label", "update", ds, "[bold]zz", "--rename-to", "y", *flags(live_server, tenant)],
        "wrong-secret-key": ["dataset", "list", *flags(live_server, tenant, sk="not-the-secret")],
        "server-down": [
            "dataset",
            "list",
            *flags(live_server, tenant, endpoint=f"http://127.0.0.1:{free_port()}"),
        ],
        "no-credentials": ["dataset", "list", *flags(live_server, tenant, keys=False)],
        "bad-property": ["label", "create", ds, "c", "-p", "no-equals-sign", *flags(live_server, tenant)],
    }[case]

    assert_failed(run_cli(*args), exit_code, *messages)

    assert label_names(tenant, ds) == ["a"]
