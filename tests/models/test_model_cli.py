"""``labelarts model import|list|show|prelabel|delete`` and ``labelarts autogroup`` as
subprocesses against a live server."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.api import World, unique_name
from tests.autolabel import picture, upload
from tests.cli import assert_failed, ok_json, run_cli
from tests.conftest import create_dataset
from tests.imports import world_fixture
from tests.models import colour_classifier

world = world_fixture("model-cli")
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
        return run_cli(*args, *auth, timeout=180)

    return run


def test_import_list_show_prelabel_delete(world: World, cli: Cli, tmp_path: Path) -> None:
    onnx_file = tmp_path / "colours.onnx"
    onnx_file.write_bytes(colour_classifier())
    labels = tmp_path / "labels.txt"
    labels.write_text("red\nblue\n")
    name = unique_name("m")
    model = ok_json(
        cli(
            *("model", "import", str(onnx_file), "--name", name, "--kind", "classifier"),
            *("--input-size", "16x16", "--labels-file", str(labels), "-o", "json"),
        )
    )
    assert model["labels"] == ["red", "blue"] and model["input_size"] == [16, 16]
    listed = ok_json(cli("model", "list", "--name", name, "-o", "json"))
    assert [m["model_id"] for m in listed["models"]] == [model["model_id"]]
    table = cli("model", "list")
    assert table.returncode == 0 and name in table.stdout
    assert ok_json(cli("model", "show", model["model_id"], "-o", "json")) == model

    alice = world.alice
    dataset_id = create_dataset(alice.aksk, alice.project_id, unique_name())
    upload(alice, dataset_id, [(f"u{i}.jpg", picture("red", i), None) for i in range(3)])
    done = ok_json(cli("model", "prelabel", dataset_id, model["model_id"], "--wait", "-o", "json"))
    assert done["status"] == 3 and done["result"]["unconfirmed_sample_count"] == 3
    grouped = ok_json(cli("autogroup", dataset_id, "-k", "2", "--attribute", "grp", "--wait", "-o", "json"))
    assert grouped["status"] == 3 and grouped["result"]["grouped_sample_count"] == 3

    deleted = cli("model", "delete", model["model_id"])
    assert deleted.returncode == 0, deleted.stderr
    assert_failed(cli("model", "show", model["model_id"]), 1, "ModelArts.4338")


def test_a_file_that_is_not_a_model_is_refused(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    result = cli(
        *("model", "import", str(bad), "--name", unique_name("m"), "--kind", "classifier"),
        *("--input-size", "16x16", "--label", "a", "--label", "b"),
    )
    assert_failed(result, 1, "ModelArts.3037")
    assert_failed(
        cli(
            "model",
            "import",
            str(bad),
            "--name",
            "x",
            "--kind",
            "classifier",
            "--input-size",
            "16",
            "--label",
            "a",
        ),
        2,
        "--input-size",
    )
