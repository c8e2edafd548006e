"""``labelarts autolabel ...`` against a live server: start and wait, status, list, review and
confirm, checked sample by sample through the API; and the errors a user meets."""

from __future__ import annotations

import io
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image

from labelarts.client import LabelArtsClient
from tests.autolabel import picture, sentence, start_task, upload
from tests.cli import assert_failed, ok_json, run_cli
from tests.conftest import LiveServer, Tenant, create_dataset

# The first task on a machine exports the image model to ONNX (tens of seconds).
TASK_TIMEOUT = 300.0
Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def alice(shared_tenants: tuple[Tenant, Tenant]) -> Tenant:
    return shared_tenants[0]


@pytest.fixture
def cli(shared_server: LiveServer, alice: Tenant) -> Cli:
    """``labelarts ARGS`` with the endpoint and alice's keys."""
    auth = [
        *("--endpoint", shared_server.url),
        *("--project-id", alice.project_id),
        *("--ak", alice.creds.access_key),
        *("--sk", alice.creds.secret_key),
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, *auth, timeout=TASK_TIMEOUT)

    return run


def image_dataset(
    tenant: Tenant, labeled: dict[str, int], unlabeled: dict[str, int]
) -> tuple[str, dict[str, str]]:
    """A new image-classification dataset with ``labeled[kind]`` labeled pictures per class and
    ``unlabeled[kind]`` unlabeled ones (named u0.jpg, u1.jpg...: the name does not tell the class).
    Returns the dataset id and, per unlabeled sample id, its true class."""
    dataset_id = create_dataset(tenant.aksk, tenant.project_id, f"cli-{uuid.uuid4().hex[:10]}")
    items: list[tuple[str, bytes, str | None]] = [
        (f"{kind}-{i}.jpg", picture(kind, seed=i), kind) for kind, n in labeled.items() for i in range(n)
    ]
    hidden = [kind for kind, n in unlabeled.items() for _ in range(n)]
    items += [(f"u{j}.jpg", picture(kind, seed=100 + j), None) for j, kind in enumerate(hidden)]
    ids = upload(tenant, dataset_id, items)
    return dataset_id, dict(zip(ids[len(ids) - len(hidden) :], hidden, strict=True))


def wide(jpeg: bytes) -> bytes:
    """The picture stretched to 8:1."""
    out = io.BytesIO()
    Image.open(io.BytesIO(jpeg)).resize((256, 32)).save(out, "JPEG", quality=90)
    return out.getvalue()


def samples(tenant: Tenant, dataset_id: str, sample_ids: list[str]) -> dict[str, dict[str, Any]]:
    found = {}
    for sample_id in sample_ids:
        response = tenant.aksk.get(tenant.v2(f"/datasets/{dataset_id}/data-annotations/samples/{sample_id}"))
        assert response.status_code == 200, response.text
        found[sample_id] = response.json()
    return found


def table_rows(stdout: str) -> list[dict[str, str]]:
    """The rows of a Rich table as dicts by column header."""
    header = next(line for line in stdout.splitlines() if line.startswith("┃"))
    columns = [cell.strip() for cell in header.strip("┃").split("┃")]
    return [
        dict(zip(columns, (cell.strip() for cell in line.strip("│").split("│")), strict=True))
        for line in stdout.splitlines()
        if line.startswith("│")
    ]


def test_start_wait_review_and_confirm_label_every_sample(alice: Tenant, cli: Cli) -> None:
    dataset_id, truth = image_dataset(alice, {"red": 6, "blue": 6}, {"red": 3, "blue": 3})
    # A red picture of another shape than all the labeled ones: a hard example (reason 6, aspect ratio).
    [odd] = upload(alice, dataset_id, [("u-wide.jpg", wide(picture("red", seed=200)), None)])
    truth[odd] = "red"

    started = cli("autolabel", "start", dataset_id, "--wait", "-o", "json")

    final = ok_json(started)
    assert final["status"] == 3, final
    assert final["result"]["unconfirmed_sample_count"] == len(truth)
    assert started.stderr == ""  # no progress bar: stderr is not a terminal
    task_id = final["task_id"]

    status = cli("autolabel", "status", dataset_id, task_id)
    assert status.returncode == 0, status.stderr
    fields = {row["field"]: row["value"] for row in table_rows(status.stdout)}
    assert fields["task_id"] == task_id
    assert fields["status"] == "succeeded"
    assert fields["unconfirmed_sample_count"] == str(len(truth))

    listed = ok_json(cli("autolabel", "list", dataset_id, "-o", "json"))
    assert [(t["task_id"], t["status"]) for t in listed["tasks"]] == [(task_id, 3)]

    # review: every auto-labeled sample, its label right, least confident first
    review = cli("autolabel", "review", dataset_id)
    assert review.returncode == 0, review.stderr
    rows = table_rows(review.stdout)
    assert {row["sample_id"]: row["label"] for row in rows} == truth
    scores = [float(row["score"]) for row in rows]
    assert scores == sorted(scores)
    assert f"{len(truth)} samples to confirm" in review.stdout

    before = samples(alice, dataset_id, list(truth))
    hard = {i for i, s in before.items() if s["metadata"]["@modelarts:hard"]}
    assert odd in hard
    assert "6 aspect_ratio" in next(row["reasons"] for row in rows if row["sample_id"] == odd)
    reviewed_hard = ok_json(cli("autolabel", "review", dataset_id, "--hard", "-o", "json"))
    assert {s["sample_id"] for s in reviewed_hard["samples"]} == hard
    assert reviewed_hard["sample_count"] == len(hard)

    # --min-score with --dry-run: counts the samples at or above the score, changes nothing
    top = {i: max(label["score"] for label in s["labels"]) for i, s in before.items()}
    cut = sorted(top.values())[len(top) // 2]
    dry = ok_json(
        cli("autolabel", "confirm", dataset_id, "--all", "--min-score", str(cut), "--dry-run", "-o", "json")
    )
    assert dry == {"confirmed": 0, "matched": sum(score >= cut for score in top.values())}
    assert all(
        s["sample_status"] == "__AUTO_ANNOTATION__" for s in samples(alice, dataset_id, list(truth)).values()
    )

    # confirm: the sure ones first (hard examples stay for review), then --all the rest
    confirmed = cli("autolabel", "confirm", dataset_id)
    assert confirmed.returncode == 0, confirmed.stderr
    assert confirmed.stdout.strip() == f"Confirmed {len(truth) - len(hard)} samples."
    after = samples(alice, dataset_id, list(truth))
    assert {i for i, s in after.items() if s["sample_status"] == "__AUTO_ANNOTATION__"} == hard

    confirmed_all = cli("autolabel", "confirm", dataset_id, "--all")
    assert confirmed_all.returncode == 0, confirmed_all.stderr
    assert confirmed_all.stdout.strip() == f"Confirmed {len(hard)} samples."
    after = samples(alice, dataset_id, list(truth))
    assert {i: s["sample_status"] for i, s in after.items()} == dict.fromkeys(truth, "__ALL__")
    assert {i: [label["name"] for label in s["labels"]] for i, s in after.items()} == {
        i: [kind] for i, kind in truth.items()
    }
    assert ok_json(cli("autolabel", "review", dataset_id, "-o", "json"))["sample_count"] == 0


def test_wait_on_a_stopped_task_fails_and_stopping_it_again_is_a_clear_error(alice: Tenant, cli: Cli) -> None:
    # Enough unlabeled pictures that the task is still encoding when the stop arrives.
    dataset_id, truth = image_dataset(alice, {"red": 5, "blue": 5}, {"red": 60, "blue": 60})
    task_id = start_task(alice, dataset_id)
    stop = alice.aksk.post(alice.v2(f"/datasets/{dataset_id}/tasks/{task_id}/stop"))
    assert stop.status_code == 204, stop.text

    waited = cli("autolabel", "wait", dataset_id, task_id)

    assert waited.returncode == 1, waited.stderr
    assert f"task {task_id} stopped" in waited.stderr
    assert {row["field"]: row["value"] for row in table_rows(waited.stdout)}["status"] == "stopped"
    assert_failed(cli("autolabel", "stop", dataset_id, task_id), 1, "400 ModelArts.4396", "already ended")
    # A stopped task leaves the dataset as it was.
    assert all(s["sample_status"] == "__NONE__" for s in samples(alice, dataset_id, list(truth)).values())


@pytest.mark.parametrize(
    ("labeled", "unlabeled", "extra", "messages"),
    [
        pytest.param({"red": 6}, {"red": 1}, [], ["400 ModelArts.4405", "two labels"], id="one-label"),
        pytest.param(
            {"red": 6, "blue": 3}, {"red": 1}, [], ["400 ModelArts.4406", "blue (3)"], id="too-few-labeled"
        ),
        pytest.param({"red": 5, "blue": 5}, {}, [], ["400 ModelArts.4407", "unlabeled"], id="none-unlabeled"),
        pytest.param(
            {"red": 5, "blue": 5},
            {"red": 1},
            ["--model", "[bold]nope"],
            ["ModelArts.4396", "[bold]nope"],
            id="model",
        ),
    ],
)
def test_start_refused_is_one_clear_error_and_starts_nothing(
    alice: Tenant,
    cli: Cli,
    labeled: dict[str, int],
    unlabeled: dict[str, int],
    extra: list[str],
    messages: list[str],
) -> None:
    dataset_id, _ = image_dataset(alice, labeled, unlabeled)

    assert_failed(cli("autolabel", "start", dataset_id, *extra, "--wait"), 1, *messages)

    listed = alice.aksk.get(alice.v2(f"/datasets/{dataset_id}/tasks"))
    assert listed.status_code == 200, listed.text
    assert listed.json()["total_count"] == 0


def test_status_of_an_unknown_task_is_a_404(alice: Tenant, cli: Cli) -> None:
    dataset_id = create_dataset(alice.aksk, alice.project_id, f"cli-{uuid.uuid4().hex[:10]}")
    assert_failed(cli("autolabel", "status", dataset_id, "0" * 32), 1, "404 ModelArts.4612")


def test_wait_for_task_reports_each_poll_and_gives_up_at_the_timeout() -> None:
    """The client loop behind ``wait``: every polled body reaches ``on_progress``, the final one
    is returned, and a task that never ends raises TimeoutError instead of blocking."""
    answers = iter([(-1, 0.0), (1, 40.0), (1, 80.0), (3, 100.0)])

    def ending(request: httpx.Request) -> httpx.Response:
        status, progress = next(answers)
        return httpx.Response(200, json={"task_id": "t1", "status": status, "progress": progress})

    seen: list[tuple[int, float]] = []
    with LabelArtsClient("http://x", "p", token="t", transport=httpx.MockTransport(ending)) as client:
        final = client.wait_for_task(
            "d", "t1", poll=0.001, on_progress=lambda b: seen.append((b.status, b.progress))
        )
    assert seen == [(-1, 0.0), (1, 40.0), (1, 80.0), (3, 100.0)]
    assert final.status == 3

    def running(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"task_id": "t1", "status": 1, "progress": 50.0})

    with LabelArtsClient("http://x", "p", token="t", transport=httpx.MockTransport(running)) as client:
        began = time.monotonic()
        with pytest.raises(TimeoutError, match="t1"):
            client.wait_for_task("d", "t1", timeout=0.2, poll=0.05)
    assert 0.2 <= time.monotonic() - began < 2.0


def test_check_labels_marks_a_wrong_human_label(alice: Tenant, cli: Cli) -> None:
    dataset_id = create_dataset(
        alice.aksk, alice.project_id, f"cli-{uuid.uuid4().hex[:10]}", dataset_type=100
    )
    upload(
        alice,
        dataset_id,
        [(f"{k}{i}.txt", sentence(k, i), k) for k in ("sport", "cooking") for i in range(9)],
    )
    (flipped,) = upload(alice, dataset_id, [("f.txt", sentence("cooking", 9), "sport")])

    final = ok_json(cli("autolabel", "start", dataset_id, "--check-labels", "--wait", "-o", "json"))

    assert final["status"] == 3, final
    assert final["config"]["check_labeled_samples"] is True
    assert final["result"]["label_error_sample_count"] == 1
    got = samples(alice, dataset_id, [flipped])[flipped]
    assert got["metadata"]["@modelarts:hard_reasons"] == [31]
