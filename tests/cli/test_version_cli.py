"""``labelarts version publish|list|show|delete`` as a subprocess against a live server."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.api import World
from tests.cli import assert_failed, ok_json, run_cli
from tests.imports import world_fixture
from tests.versions import classes

world = world_fixture("version-cli")
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(world: World) -> Cli:
    alice = world.alice
    auth = [
        *("--endpoint", world.server.url),
        *("--project-id", alice.project_id),
        *("--ak", alice.creds.access_key),
        *("--sk", alice.creds.secret_key),
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, *auth, timeout=120)

    return run


def test_publish_show_list_delete(world: World, cli: Cli, tmp_path: Path) -> None:
    dataset_id = classes(world, {"cat": 3, "dog": 3}, unlabeled=1)
    published = cli("version", "publish", dataset_id, "--train-ratio", "0.5", "--seed", "42", "-o", "json")
    version = ok_json(published)
    assert version["status"] == 1 and version["version_name"] == "V001" and version["split_seed"] == 42
    assert version["data_statistics"]["train_sample_count"] == 4  # round(3 * 0.5) of each class
    assert published.stderr == ""  # no progress bar: stderr is not a terminal

    table = cli(
        "version", "show", dataset_id, version["version_id"], "--manifest", str(tmp_path / "v.manifest")
    )
    assert table.returncode == 0, table.stderr
    assert "V001" in table.stdout and "cat" in table.stdout
    lines = [json.loads(line) for line in (tmp_path / "v.manifest").read_text().splitlines()]
    assert len(lines) == 7 and sum(1 for line in lines if line.get("usage") == "TRAIN") == 4

    second = ok_json(cli("version", "publish", dataset_id, "--name", "later", "--no-wait", "-o", "json"))
    listed = ok_json(cli("version", "list", dataset_id, "-o", "json"))
    assert listed["total_number"] == 2
    assert {v["version_id"] for v in listed["versions"]} == {version["version_id"], second["version_id"]}
    rows = cli("version", "list", dataset_id)
    assert rows.returncode == 0 and "2 versions" in rows.stdout and "V001" in rows.stdout

    deleted = cli("version", "delete", dataset_id, version["version_id"])
    assert deleted.returncode == 0 and "deleted" in deleted.stdout
    assert_failed(cli("version", "show", dataset_id, version["version_id"]), 1, "ModelArts.4353")
    assert_failed(cli("version", "publish", dataset_id, "--name", "bad name"), 1, "ModelArts.0104")
