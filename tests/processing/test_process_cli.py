"""``labelarts process create|run|status|results|list`` as a subprocess against a live server."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from tests.api import World, unique_name
from tests.cli import assert_failed, ok_json, run_cli
from tests.imports import world_fixture
from tests.processing.operators import FAKES
from tests.versions import all_samples, classes

world = world_fixture("process-cli")
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(autouse=True)
def operators(world: World) -> None:
    world.services.processing.operators = FAKES


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


def test_create_run_status_results_list(world: World, cli: Cli) -> None:
    dataset_id = classes(world, {"cat": 2, "dog": 1})
    name = unique_name("clean")
    created = cli(
        "process", "create", name, "--template", "sys_data_validation", "--dataset", dataset_id,
        "--operator", "MetaValidation:image_max_width=1920,image_max_height=1920",
        "--into-dataset", dataset_id, "--into-version-name", name, "-o", "json",
    )  # fmt: skip
    run = ok_json(created)
    assert run["status"] == 2 and run["origin_sample_count"] == 3 and run["version_name"] == "V001"
    assert created.stderr == ""  # no progress bar: stderr is not a terminal
    version_id = run["work_path"]["version_id"]
    frozen = all_samples(world, dataset_id, version_id=version_id)
    assert sorted(s["sample_name"] for s in frozen) == ["cat0.jpg", "cat1.jpg", "dog0.jpg"]

    task_id = run["task_id"]
    status = cli("process", "status", task_id)
    assert status.returncode == 0, status.stderr
    assert "completed" in status.stdout and "sys_data_validation" in status.stdout and "V001" in status.stdout
    results = ok_json(cli("process", "results", task_id, run["task_version_id"], "-o", "json"))
    assert results["count"] == 3 and {r["result_property"] for r in results["results"]} == {0}
    table = cli("process", "results", task_id, run["task_version_id"])
    assert table.returncode == 0 and "3 results" in table.stdout

    # The task names its dataset version: a second run must name another (400), or none.
    assert_failed(cli("process", "run", task_id), 1, "ModelArts.4371")
    cleaner = unique_name("plain")
    plain = ok_json(
        cli("process", "create", cleaner, "--template", "sys_data_validation", "--dataset", dataset_id,
            "--operator", "MetaValidation", "--no-run", "-o", "json")
    )  # fmt: skip
    assert set(plain) == {"task_id"}
    again = ok_json(cli("process", "run", plain["task_id"], "-o", "json"))
    assert again["version_name"] == "V001" and again["status"] == 2
    listed = cli("process", "list", "--name", name)
    assert listed.returncode == 0 and name in listed.stdout and "completed" in listed.stdout
    assert ok_json(cli("process", "list", "--name", name, "-o", "json"))["count"] == 1

    assert_failed(
        cli("process", "create", unique_name("bad"), "--template", "sys_data_augmentation",
            "--dataset", dataset_id, "--operator", "StyleGAN"),
        1,
        "ModelArts.4396",
    )  # fmt: skip
    assert_failed(cli("process", "create", name, "--template", "sys_data_validation"), 2, "")
