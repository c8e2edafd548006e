"""``labelarts export`` and the client's export methods against a live server."""

from __future__ import annotations

import json

from labelarts.client import LabelArtsClient
from tests.api import unique_name
from tests.cli import run_cli
from tests.exports import ExportWorld, files_under, world_fixture
from tests.imports import create, jpeg, run_import, write

world = world_fixture("export-cli")


def dataset(world: ExportWorld) -> str:
    files: dict[str, bytes | str] = {"cats/1.jpg": jpeg(1), "dogs/2.jpg": jpeg(2)}
    dataset_id = create(world, 0)
    run_import(world, dataset_id, write(world.imports / unique_name("src"), files))
    return dataset_id


def test_cli_exports_with_a_progress_bar(world: ExportWorld) -> None:
    dataset_id = dataset(world)
    dest = world.exports / unique_name("cli")
    alice = world.alice
    auth = [
        *("--endpoint", world.server.url),
        *("--project-id", alice.project_id),
        *("--ak", alice.creds.access_key),
        *("--sk", alice.creds.secret_key),
    ]
    result = run_cli("export", dataset_id, "--format", "coco", "--to", str(dest), "-o", "json", *auth)
    assert result.returncode == 0, result.stderr
    task = json.loads(result.stdout)
    assert task["status"] == "SUCCESSED" and task["finished_sample_count"] == 2
    assert result.stderr == ""  # no progress bar: stderr is not a terminal
    assert "annotations/labels_default.json" in files_under(dest)
    tree = world.exports / unique_name("cli-tree")
    result = run_cli("export", dataset_id, "--to", str(tree), *auth)
    assert result.returncode == 0, result.stderr
    assert files_under(tree) == ["cats/1.jpg", "dogs/2.jpg"]
    refused = run_cli("export", dataset_id, "--to", "/etc/x", *auth)
    assert refused.returncode == 1 and "export roots" in refused.stderr and "Traceback" not in refused.stderr


def test_client_methods(world: ExportWorld) -> None:
    dataset_id = dataset(world)
    alice = world.alice
    with LabelArtsClient(
        world.server.url,
        alice.project_id,
        access_key=alice.creds.access_key,
        secret_key=alice.creds.secret_key,
    ) as client:
        dest = world.exports / unique_name("client")
        task_id = client.create_export_task(dataset_id, str(dest), annotation_format="CSV")
        seen: list[float] = []
        final = client.wait_for_export_task(
            dataset_id, task_id, poll=0.05, on_progress=lambda t: seen.append(t.progress)
        )
        assert final.status == "SUCCESSED" and seen[-1] == 100.0
        assert client.get_export_task(dataset_id, task_id).task_id == task_id
        listing = client.list_export_tasks(dataset_id)
        assert listing.total_count == 1 and listing.export_tasks[0].task_id == task_id
        assert (dest / "labels.csv").read_text().splitlines()[0] == "sample,label"
