"""``labelarts sample ...`` and ``labelarts import ...`` as a subprocess against a live server,
each result checked through the API; credentials come from the environment (no secret in argv)."""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.autolabel import picture
from tests.cli import assert_failed, cli_env, labelarts_executable, ok_json, run_cli
from tests.conftest import LiveServer, Tenant, create_dataset

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def alice(shared_tenants: tuple[Tenant, Tenant]) -> Tenant:
    return shared_tenants[0]


@pytest.fixture(scope="module")
def env(shared_server: LiveServer, alice: Tenant) -> dict[str, str]:
    return cli_env(
        LABELARTS_ENDPOINT=shared_server.url,
        LABELARTS_PROJECT_ID=alice.project_id,
        LABELARTS_AK=alice.creds.access_key,
        LABELARTS_SK=alice.creds.secret_key,
    )


@pytest.fixture
def cli(env: dict[str, str]) -> Cli:
    def run(
        *args: str, input: str | None = None, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=env, input=input, cwd=cwd, timeout=180)

    return run


def sample(tenant: Tenant, dataset_id: str, sample_id: str) -> dict[str, Any]:
    response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample_id}"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def states(tenant: Tenant, dataset_id: str, ids: list[str]) -> dict[str, tuple[str, list[str]]]:
    found = {}
    for sample_id in ids:
        body = sample(tenant, dataset_id, sample_id)
        found[sample_id] = (body["sample_status"], [label["name"] for label in body.get("labels") or []])
    return found


def auto_samples(tenant: Tenant, dataset_id: str, items: list[tuple[str, str, float, bool]]) -> list[str]:
    """Upload (name, label, score, hard) samples waiting for confirmation; their ids."""
    body = {
        "final_annotation": False,
        "samples": [
            {
                "name": name,
                "data": base64.b64encode(picture("red", seed=1000 + i)).decode(),
                "labels": [{"name": label, "score": score}],
                "metadata": {"@modelarts:hard": 1 if hard else 0},
            }
            for i, (name, label, score, hard) in enumerate(items)
        ],
    }
    response = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples"), json=body)
    assert response.status_code == 200, response.text
    return [r["info"] for r in response.json()["results"]]


def test_upload_list_show_label_delete(alice: Tenant, cli: Cli, tmp_path: Path) -> None:
    dataset_id = create_dataset(alice.aksk, alice.project_id, f"cli-{uuid.uuid4().hex[:8]}")
    for kind in ("red", "blue"):
        (tmp_path / "pics" / kind).mkdir(parents=True)
        for i in range(3):
            (tmp_path / "pics" / kind / f"{kind}{i}.jpg").write_bytes(picture(kind, seed=i))
    (tmp_path / "pics" / ".hidden.jpg").write_bytes(picture("red", seed=9))
    loose = [tmp_path / f"u{i}.jpg" for i in range(2)]
    for i, path in enumerate(loose):
        path.write_bytes(picture("blue", seed=50 + i))

    uploaded = ok_json(
        cli("sample", "upload", dataset_id, str(tmp_path / "pics"), "--label-from-folder", "-o", "json")
    )
    assert uploaded["uploaded"] == 6
    assert uploaded["samples"][0]["path"] == str(
        tmp_path / "pics" / "blue" / "blue0.jpg"
    )  # sorted, no hidden
    by_name = {Path(s["path"]).name: s["sample_id"] for s in uploaded["samples"]}
    assert states(alice, dataset_id, [by_name["red1.jpg"]]) == {by_name["red1.jpg"]: ("__ALL__", ["red"])}
    quiet = cli("sample", "upload", dataset_id, *map(str, loose), "-q")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr  # no bar: stderr is no terminal
    unlabeled = quiet.stdout.split()
    assert len(unlabeled) == 2
    # The same files again: no new samples, the same ids.
    assert cli("sample", "upload", dataset_id, *map(str, loose), "-q").stdout.split() == unlabeled

    listed = ok_json(cli("sample", "list", dataset_id, "-o", "json"))
    assert listed["sample_count"] == 8
    assert (
        ok_json(cli("sample", "list", dataset_id, "--state", "unlabeled", "-o", "json"))["sample_count"] == 2
    )
    assert ok_json(cli("sample", "list", dataset_id, "--state", "__ALL__", "-o", "json"))["sample_count"] == 6
    red = cli("sample", "list", dataset_id, "--label", "red", "-o", "jsonl")
    assert red.returncode == 0, red.stderr
    lines = [json.loads(line) for line in red.stdout.splitlines()]
    assert sorted(s["sample_name"] for s in lines) == ["red0.jpg", "red1.jpg", "red2.jpg"]
    named = ok_json(cli("sample", "list", dataset_id, "--search", "sample_name=u1.jpg", "-o", "json"))
    assert [s["sample_name"] for s in named["samples"]] == ["u1.jpg"]
    paged = cli("sample", "list", dataset_id, "--limit", "3", "--page", "2", "--order", "asc", "-q")
    assert len(paged.stdout.split()) == 2
    every = cli("sample", "list", dataset_id, "--all", "-q")
    assert sorted(every.stdout.split()) == sorted([*by_name.values(), *unlabeled])
    table = cli("sample", "list", dataset_id, "--state", "labeled")
    assert table.returncode == 0, table.stderr
    assert "6 samples" in table.stdout and by_name["blue2.jpg"] in table.stdout and "labeled" in table.stdout

    shown = ok_json(cli("sample", "show", dataset_id, by_name["blue2.jpg"], "-o", "json"))
    assert shown["sample_id"] == by_name["blue2.jpg"] and shown["labels"][0]["name"] == "blue"
    shown_table = cli("sample", "show", dataset_id, by_name["blue2.jpg"])
    assert "blue2.jpg" in shown_table.stdout and "labels" in shown_table.stdout
    one_line = cli("sample", "show", dataset_id, by_name["blue2.jpg"], "-o", "jsonl")
    assert (
        len(one_line.stdout.splitlines()) == 1
        and json.loads(one_line.stdout)["sample_id"] == shown["sample_id"]
    )

    # label: from stdin (what `list -q` prints), several labels; --clear removes them.
    piped = cli("sample", "list", dataset_id, "--state", "unlabeled", "-q").stdout
    labeled = cli("sample", "label", dataset_id, "-", "-l", "green", "-l", "blue", input=piped)
    assert labeled.returncode == 0, labeled.stderr
    assert labeled.stdout.strip() == "Labeled 2 samples: green, blue."
    assert states(alice, dataset_id, unlabeled) == dict.fromkeys(unlabeled, ("__ALL__", ["green", "blue"]))
    cleared = cli("sample", "label", dataset_id, unlabeled[0], "--clear", "-o", "json")
    assert ok_json(cleared) == {"labeled": 1, "labels": []}
    assert states(alice, dataset_id, [unlabeled[0]])[unlabeled[0]] == ("__NONE__", [])

    deleted = cli("sample", "delete", dataset_id, *unlabeled)
    assert deleted.returncode == 0 and deleted.stdout.strip() == "Deleted 2 samples.", deleted.stderr
    assert ok_json(cli("sample", "list", dataset_id, "-o", "json"))["sample_count"] == 6
    # Unknown ids: the API's 404, nothing deleted.
    assert_failed(
        cli("sample", "delete", dataset_id, by_name["red0.jpg"], "nope"), 1, "404", "ModelArts.4420"
    )
    assert ok_json(cli("sample", "list", dataset_id, "-o", "json"))["sample_count"] == 6
    assert_failed(cli("sample", "label", dataset_id, by_name["red0.jpg"]), 2, "--label NAME")
    assert_failed(cli("sample", "upload", dataset_id, str(tmp_path / "missing.jpg")), 2, "no such file")


def test_confirm_and_reject_with_the_api_filters(
    alice: Tenant, shared_tenants: tuple[Tenant, Tenant], cli: Cli
) -> None:
    dataset_id = create_dataset(alice.aksk, alice.project_id, f"cli-{uuid.uuid4().hex[:8]}")
    items = [
        ("a.jpg", "cat", 0.95, False),
        ("b.jpg", "cat", 0.55, True),
        ("c.jpg", "dog", 0.35, False),
        ("d.jpg", "dog", 0.45, True),
        ("e.jpg", "dog", 0.85, False),
        ("f.jpg", "cat", 0.15, False),
    ]
    ids = dict(zip([i[0] for i in items], auto_samples(alice, dataset_id, items), strict=True))

    def names(*args: str) -> list[str]:
        result = ok_json(cli("sample", "list", dataset_id, "--state", "auto", *args, "-o", "json"))
        assert result["sample_count"] == len(result["samples"])
        return sorted(s["sample_name"] for s in result["samples"])

    assert names() == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg", "f.jpg"]
    assert names("--score", "0.3:0.6") == ["b.jpg", "c.jpg", "d.jpg"]
    assert names("--score", "0.8:") == ["a.jpg", "e.jpg"]
    assert names("--hard") == ["b.jpg", "d.jpg"]
    assert names("--not-hard", "--label", "dog") == ["c.jpg", "e.jpg"]
    assert names("--search", "score=0.4-0.9", "--search", "hard=0") == ["e.jpg"]
    assert names("--search", 'label_list={"labels": [{"name": "cat"}]}') == ["a.jpg", "b.jpg", "f.jpg"]
    ordered = ok_json(cli("sample", "list", dataset_id, "--score", "0:1", "--order", "asc", "-o", "json"))
    assert [s["sample_name"] for s in ordered["samples"]] == [
        "f.jpg",
        "c.jpg",
        "d.jpg",
        "b.jpg",
        "e.jpg",
        "a.jpg",
    ]
    table = cli("sample", "list", dataset_id, "--hard")
    assert "to confirm" in table.stdout and "yes" in table.stdout and "cat 0.550" in table.stdout
    assert_failed(cli("sample", "list", dataset_id, "--score", "0.3"), 2, "LOW:HIGH")
    assert_failed(cli("sample", "list", dataset_id, "--score", "a:b"), 2, "not a number")
    assert_failed(cli("sample", "list", dataset_id, "--search", "nokey"), 2, "KEY=VALUE")
    assert_failed(cli("sample", "list", dataset_id, "--search", "bogus=1"), 1, "400")
    assert_failed(cli("sample", "list", dataset_id, "--state", "weird"), 1, "400")

    # Nothing selected is refused rather than taken as "everything".
    assert_failed(cli("sample", "confirm", dataset_id), 2, "--all")
    dry = ok_json(
        cli("sample", "confirm", dataset_id, "--not-hard", "--score", "0.8:", "--dry-run", "-o", "json")
    )
    assert dry == {"confirmed": 0, "matched": 2}
    assert states(alice, dataset_id, [ids["a.jpg"]])[ids["a.jpg"]][0] == "__AUTO_ANNOTATION__"

    # confirm: the auto labels kept as they are, the samples labeled; by filter, by id, from stdin.
    confirmed = cli("sample", "confirm", dataset_id, "--not-hard", "--score", "0.8:")
    assert confirmed.returncode == 0 and confirmed.stdout.strip() == "Confirmed 2 samples.", confirmed.stderr
    after = sample(alice, dataset_id, ids["a.jpg"])
    assert after["sample_status"] == "__ALL__"
    # Kept as they were: the score, and annotated_by "auto" (where the label came from).
    assert [(lb["name"], lb["score"], lb["annotated_by"]) for lb in after["labels"]] == [
        ("cat", 0.95, "auto")
    ]
    assert ok_json(cli("sample", "confirm", dataset_id, ids["b.jpg"], "-o", "json")) == {
        "confirmed": 1,
        "matched": 1,
    }

    # reject: the auto labels go, the sample stays, unlabeled.
    rejected = cli("sample", "reject", dataset_id, "--hard", "-q")
    assert rejected.stdout.split() == [ids["d.jpg"]]
    assert states(alice, dataset_id, [ids["d.jpg"]]) == {ids["d.jpg"]: ("__NONE__", [])}
    # Only samples waiting for confirmation: a labeled one is refused and nothing changes.
    assert_failed(
        cli("sample", "reject", dataset_id, ids["f.jpg"], ids["a.jpg"]), 1, ids["a.jpg"], "not waiting"
    )
    assert states(alice, dataset_id, [ids["f.jpg"], ids["a.jpg"]]) == {
        ids["f.jpg"]: ("__AUTO_ANNOTATION__", ["cat"]),
        ids["a.jpg"]: ("__ALL__", ["cat"]),
    }
    assert_failed(cli("sample", "confirm", dataset_id, ids["c.jpg"], "--hard"), 2, "not both")
    # Another project's samples are not found.
    mallory = shared_tenants[1]
    theirs = create_dataset(mallory.aksk, mallory.project_id, "theirs")
    [foreign] = auto_samples(mallory, theirs, [("x.jpg", "cat", 0.5, False)])
    assert_failed(cli("sample", "confirm", dataset_id, foreign), 1, "not waiting")
    assert_failed(cli("sample", "confirm", theirs, foreign), 1, "404")

    piped = cli("sample", "list", dataset_id, "--state", "auto", "-o", "jsonl").stdout
    assert len(piped.splitlines()) == 2  # c and f
    rest = cli("sample", "reject", dataset_id, "-", "-o", "json", input=piped)
    assert ok_json(rest) == {"rejected": 2, "matched": 2}
    assert ok_json(cli("sample", "list", dataset_id, "--state", "auto", "-o", "json"))["sample_count"] == 0
    assert ok_json(cli("sample", "list", dataset_id, "--state", "labeled", "-o", "json"))["sample_count"] == 3


def test_import_start_status_list(shared_server: LiveServer, alice: Tenant, cli: Cli) -> None:
    root = Path(shared_server.settings.import_roots[0].path)
    folder = root / f"cli-import-{uuid.uuid4().hex[:8]}"
    for kind in ("red", "blue"):
        (folder / kind).mkdir(parents=True)
        for i in range(2):
            (folder / kind / f"{i}.jpg").write_bytes(picture(kind, seed=i))
    (folder / "red" / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    dataset_id = create_dataset(alice.aksk, alice.project_id, f"cli-{uuid.uuid4().hex[:8]}")

    # A path relative to the working directory is sent as an absolute one.
    started = cli("import", "start", dataset_id, folder.name, "-o", "json", cwd=root)

    task = ok_json(started)
    assert task["status"] == "COMPLETED" and task["imported_sample_count"] == 4, task
    assert task["import_path"].rstrip("/") == str(folder)
    assert "broken.jpg" in started.stderr  # the failed file, one line on stderr
    labeled = ok_json(cli("sample", "list", dataset_id, "--label", "red", "-o", "json"))
    assert labeled["sample_count"] == 2

    status = cli("import", "status", dataset_id, task["task_id"])
    assert status.returncode == 0, status.stderr
    assert "COMPLETED" in status.stdout and task["task_id"] in status.stdout
    again = cli("import", "start", dataset_id, str(folder), "--no-annotations", "--no-wait", "-q")
    second = again.stdout.strip()
    assert again.returncode == 0 and second, again.stderr
    waited = ok_json(cli("import", "status", dataset_id, second, "--wait", "-o", "json"))
    assert waited["status"] == "COMPLETED" and waited["imported_sample_count"] == 0  # nothing twice
    listed = cli("import", "list", dataset_id, "-o", "jsonl")
    assert {json.loads(line)["task_id"] for line in listed.stdout.splitlines()} >= {task["task_id"], second}
    table = cli("import", "list", dataset_id)
    assert "import tasks" in table.stdout and second in table.stdout

    assert_failed(cli("import", "start", dataset_id, str(root / "nowhere")), 1, "ModelArts.")
    assert_failed(cli("import", "status", dataset_id, "nope"), 1, "404")


def test_progress_bar_on_a_terminal(env: dict[str, str], alice: Tenant, tmp_path: Path) -> None:
    """With stderr on a terminal, upload draws its bar there; stdout (a pipe) stays clean."""
    dataset_id = create_dataset(alice.aksk, alice.project_id, f"cli-{uuid.uuid4().hex[:8]}")
    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(picture("red", seed=i))
    master, slave = pty.openpty()
    try:
        done = subprocess.run(
            [labelarts_executable(), "sample", "upload", dataset_id, str(tmp_path), "-q"],
            env={**env, "TERM": "xterm"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            text=True,
            timeout=120,
        )
        os.close(slave)
        seen = b""
        while select.select([master], [], [], 1)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master)
    assert done.returncode == 0
    assert len(done.stdout.split()) == 3
    assert b"Uploading 3/3" in seen and b"100%" in seen
