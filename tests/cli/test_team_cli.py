"""``labelarts workforce|workforce worker|team-task`` as a subprocess against a live server: the
owner makes a team, a task, and accepts what the labelers handed in."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

import pytest

from tests.api import World
from tests.cli import assert_failed, ok_json, run_cli
from tests.conftest import PASSWORD
from tests.imports import world_fixture
from tests.team_tasks.helpers import add_person, cat, make_dataset

world = world_fixture("team-cli")
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


def test_team_and_task_from_the_command_line(world: World, cli: Cli) -> None:
    team_id = ok_json(cli("workforce", "create", "cli-team", "--description", "by cli", "-o", "json"))[
        "workforce_id"
    ]
    listed = cli("workforce", "list")
    assert listed.returncode == 0 and "cli-team" in listed.stdout and "1 teams" in listed.stdout
    labeler = add_person(world.server, world.alice, team_id, 0)
    try:
        added = cli("workforce", "worker", "add", team_id, "r@example.com", "x@example.com", "--role", "1")
        assert added.returncode == 0, added.stderr
        workers = ok_json(cli("workforce", "worker", "list", team_id, "-o", "json"))
        assert workers["total_number"] == 3
        by_email = {w["email"]: w for w in workers["workers"]}
        assert by_email["r@example.com"]["role"] == 1
        # --role on one team filters every page, not just the one shown: page 0 of 1 a page.
        by_role = ["workforce", "worker", "list", team_id, "-o", "json", "--role"]
        reviewers = ok_json(cli(*by_role, "1", "--limit", "1"))
        assert reviewers["total_number"] == 2
        assert {w["email"] for w in reviewers["workers"]} <= {"r@example.com", "x@example.com"}
        second = ok_json(cli(*by_role, "1", "--limit", "1", "--page", "1"))
        assert len(second["workers"]) == 1 and second["workers"] != reviewers["workers"]
        assert ok_json(cli(*by_role, "2"))["workers"] == []
        gone = cli("workforce", "worker", "remove", team_id, by_email["x@example.com"]["worker_id"])
        assert gone.returncode == 0, gone.stderr
        everyone = cli("workforce", "worker", "list", "-q").stdout.split()
        assert sorted(everyone) == sorted([labeler.worker_id, by_email["r@example.com"]["worker_id"]])

        creds = world.server.services.members.create_member("m@example.com", world.alice.project_id, PASSWORD)
        assert cli("workforce", "worker", "add", team_id, "m@example.com", "--role", "1").returncode == 0
        member_auth = [
            *("--endpoint", world.server.url),
            *("--project-id", world.alice.project_id),
            *("--ak", creds.access_key),
            *("--sk", creds.secret_key),
        ]

        dataset_id, ids = make_dataset(world.alice, 4)
        task_id = ok_json(
            cli("team-task", "create", dataset_id, "--workforce", team_id, "--name", "cli-task", "-o", "json")
        )["task_id"]
        shown = ok_json(cli("team-task", "show", dataset_id, task_id, "-o", "json"))
        assert shown["status"] == 1 and shown["sample_stats"]["total_sample_count"] == 4
        table = cli("team-task", "list", dataset_id)
        assert table.returncode == 0 and "cli-task" in table.stdout and "running" in table.stdout
        # Notify queues mail for a member of the task; an address outside it: exit 1, said why.
        notified = cli("team-task", "notify", dataset_id, task_id, labeler.email)
        assert notified.returncode == 0 and "1 of 1 queued" in notified.stdout, notified.stderr
        stranger = cli("team-task", "notify", dataset_id, task_id, "nobody@example.com", "-o", "json")
        assert stranger.returncode == 1 and json.loads(stranger.stdout)["success"] is False
        # A member's own side, with their own key pair: the reviewer sees the task, role 1.
        theirs = ok_json(run_cli("team-task", "mine", "-o", "json", *member_auth, timeout=120))
        assert [(t["task_id"], t["role"]) for t in theirs["worker_tasks"]] == [(task_id, 1)]
        # Nothing waits for acceptance yet: the server's error, exit 1.
        assert_failed(cli("team-task", "sample", dataset_id, task_id, "--count", "1"), 1, "ModelArts.4625")

        path = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks/{task_id}/data-annotations")
        saved = labeler.client.put(
            path + "/samples", json={"samples": [{"sample_id": s, "labels": cat()} for s in ids]}
        )
        assert saved.json()["success"] is True
        review = [{"sample_id": s, "accept": True, "score": "A"} for s in ids]
        assert world.alice.aksk.post(path + "/review", json={"comments": review}).status_code == 200

        started = cli("team-task", "sample", dataset_id, task_id, "--rate", "0.5")
        assert started.returncode == 0 and started.stdout.startswith("acceptance "), started.stderr
        report = ok_json(cli("team-task", "report", dataset_id, task_id, "-o", "json"))
        assert report["checking_stats"]["sampled_sample_count"] == 2
        closed = cli("team-task", "close", dataset_id, task_id, "0", "-o", "json")
        assert ok_json(closed)["sample_count"] == 4
        assert ok_json(cli("team-task", "show", dataset_id, task_id, "-o", "json"))["status"] == 3
        assert cli("team-task", "delete", dataset_id, task_id).returncode == 0
        assert cli("workforce", "delete", team_id).returncode == 0
    finally:
        labeler.close()


def test_agreement_and_gold_from_the_command_line(world: World, cli: Cli) -> None:
    team_id = ok_json(cli("workforce", "create", "cli-gold", "-o", "json"))["workforce_id"]
    people = [add_person(world.server, world.alice, team_id, 0) for _ in range(2)]
    try:
        dataset_id, ids = make_dataset(world.alice, 4)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"workforces": [{"workforce_id": team_id}]}
        task_id = world.alice.aksk.post(
            base, json={"task_name": "cli-gold", "repetition": 2, "workforces_config": config}
        ).json()["task_id"]
        marked = cli("team-task", "gold", dataset_id, task_id, "--set", f"{ids[0]}=cat")
        assert marked.returncode == 0 and "1 gold samples" in marked.stdout, marked.stderr
        assert_failed(cli("team-task", "gold", dataset_id, task_id, "--set", "no-equals-sign"), 2)
        for k, person in enumerate(people):
            names = {s: ("dog" if k == 1 and s == ids[1] else "cat") for s in ids}
            body = {"samples": [{"sample_id": s, "labels": cat(n)} for s, n in names.items()]}
            assert person.client.put(f"{base}/{task_id}/data-annotations/samples", json=body).json()[
                "success"
            ]
        listed = ok_json(cli("team-task", "gold", dataset_id, task_id, "-o", "json"))
        assert [(s["sample_id"], s["labeled_count"], s["correct_count"]) for s in listed["samples"]] == [
            (ids[0], 2, 2)
        ]
        report = ok_json(cli("team-task", "agreement", dataset_id, task_id, "-o", "json"))
        assert report["overall"]["sample_count"] == 3  # the gold sample is left out
        assert report["pairs"][0]["observed_agreement"] == pytest.approx(2 / 3)
        assert [m["gold_accuracy"] for m in report["members"]] == [1.0, 1.0]
        table = cli("team-task", "agreement", dataset_id, task_id)
        assert table.returncode == 0 and "Cohen" in table.stdout and people[0].email in table.stdout
    finally:
        for person in people:
            person.close()
