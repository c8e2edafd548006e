"""The whole team flow through HTTP with real accounts: dealing, labeling, review, rework,
acceptance sampling, comments, each closing action, and what reaches the dataset."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api import World, shared_world
from tests.conftest import assert_error
from tests.team_tasks.helpers import Person, add_person, add_team, cat, make_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("team")) as w:
        yield w


class Team:
    def __init__(
        self, world: World, labelers: int = 2, reviewers: int = 1, *, password: bool = False
    ) -> None:
        self.world = world
        self.owner = world.alice
        self.team_id = add_team(world.alice)
        self.labelers = [
            add_person(world.server, world.alice, self.team_id, 0, password=password) for _ in range(labelers)
        ]
        self.reviewers = [
            add_person(world.server, world.alice, self.team_id, 1, password=password)
            for _ in range(reviewers)
        ]

    def close(self) -> None:
        for person in self.labelers + self.reviewers:
            person.close()

    def config(self) -> dict[str, Any]:
        return {"workforces": [{"workforce_id": self.team_id}]}


def tasks_path(world: World, dataset_id: str, suffix: str = "") -> str:
    return world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks{suffix}")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def create(team: Team, dataset_id: str, **extra: Any) -> str:
    body = {"task_name": f"t{len(extra)}x{id(extra) % 10**6}", "workforces_config": team.config(), **extra}
    return str(ok(team.owner.aksk.post(tasks_path(team.world, dataset_id), json=body))["task_id"])


def my_samples(
    person: Person, world: World, dataset_id: str, task_id: str, **params: Any
) -> list[dict[str, Any]]:
    path = tasks_path(world, dataset_id, f"/{task_id}/data-annotations/samples")
    out: list[dict[str, Any]] = []
    page = 0
    while True:
        body = ok(person.client.get(path, params={"limit": 100, "offset": page, **params}))
        out.extend(body["samples"])
        if len(out) >= body["sample_count"] or not body["samples"]:
            return out
        page += 1


def label_all(person: Person, world: World, dataset_id: str, task_id: str, name: str = "cat") -> list[str]:
    samples = my_samples(person, world, dataset_id, task_id)
    body = {"samples": [{"sample_id": s["sample_id"], "labels": cat(name)} for s in samples]}
    path = tasks_path(world, dataset_id, f"/{task_id}/data-annotations/samples")
    answer = ok(person.client.put(path, json=body))
    assert answer["success"] is True, answer
    return [s["sample_id"] for s in samples]


def dataset_labels(world: World, dataset_id: str) -> dict[str, list[str]]:
    path = world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples")
    body = ok(world.alice.aksk.get(path, params={"limit": 100}))
    return {s["sample_id"]: sorted(label["name"] for label in s.get("labels", [])) for s in body["samples"]}


def test_whole_team_flow_with_repetition_two(world: World) -> None:
    team = Team(world, password=True)  # members signed in with their passwords
    try:
        dataset_id, ids = make_dataset(world.alice, 10)
        task_id = create(team, dataset_id, repetition=2)
        detail = ok(world.alice.aksk.get(tasks_path(world, dataset_id, f"/{task_id}")))
        assert detail["status"] == 1
        assert detail["repetition"] == 2
        assert detail["sample_stats"]["total_sample_count"] == 10
        assert detail["sample_stats"]["unannotated_sample_count"] == 10
        assert detail["workforce_stats"] == {"workforce_count": 1, "labeler_count": 2, "reviewer_count": 1}
        # Two labelers, repetition 2: each gets every sample.
        a, b = team.labelers
        assert sorted(s["sample_id"] for s in my_samples(a, world, dataset_id, task_id)) == sorted(ids)
        assert sorted(s["sample_id"] for s in my_samples(b, world, dataset_id, task_id)) == sorted(ids)

        # Both label; b disagrees on the last two samples.
        label_all(a, world, dataset_id, task_id)
        b_samples = sorted(s["sample_id"] for s in my_samples(b, world, dataset_id, task_id))
        path = tasks_path(world, dataset_id, f"/{task_id}/data-annotations/samples")
        body = {
            "samples": [
                {"sample_id": s, "labels": cat("dog" if s in b_samples[-2:] else "cat")} for s in b_samples
            ]
        }
        assert ok(b.client.put(path, json=body))["success"] is True
        # Nothing reached the dataset yet.
        assert all(v == [] for v in dataset_labels(world, dataset_id).values())

        # The reviewer sees 20 unreviewed results; rejects a's result on the first sample.
        reviewer = team.reviewers[0]
        unreviewed = my_samples(reviewer, world, dataset_id, task_id, sample_state="__UNREVIEWED__")
        assert len(unreviewed) == 20
        first = sorted(ids)[0]
        review = tasks_path(world, dataset_id, f"/{task_id}/data-annotations/review")
        comments = [
            {"sample_id": s["sample_id"], "worker_id": s["worker_id"], "accept": True, "score": "A"}
            for s in unreviewed
            if not (s["sample_id"] == first and s["worker_id"] == a.worker_id)
        ]
        comments.append(
            {"sample_id": first, "worker_id": a.worker_id, "accept": False, "comment": "look again"}
        )
        ok(reviewer.client.post(review, json={"comments": comments}))
        # A labeler may not review.
        assert_error(a.client.post(review, json={"comments": comments[:1]}), 403, "ModelArts.4600")

        # a reworks the rejected sample.
        rejected = my_samples(a, world, dataset_id, task_id, sample_state="__REJECTED__")
        assert [s["sample_id"] for s in rejected] == [first]
        assert rejected[0]["review_comment"] == "look again"
        ok(a.client.put(path, json={"samples": [{"sample_id": first, "labels": cat("cat")}]}))
        ok(
            reviewer.client.post(
                review, json={"comments": [{"sample_id": first, "worker_id": a.worker_id, "accept": True}]}
            )
        )

        # 50% acceptance sampling: 5 of the 10 samples.
        check_id = ok(
            world.alice.aksk.post(
                tasks_path(world, dataset_id, f"/{task_id}/acceptance"), json={"sampling_rate": 0.5}
            )
        )["task_id"]
        sampled = my_samples(a, world, dataset_id, task_id, sample_state="__WORKFORCE_SAMPLED__")
        # (a labeler sees their own sampled results)
        assert len({s["sample_id"] for s in sampled}) == 5
        owner_sampled = ok(
            world.alice.aksk.get(
                tasks_path(world, dataset_id, f"/{task_id}/data-annotations/samples"),
                params={"sample_state": "__WORKFORCE_SAMPLED__", "limit": 100},
            )
        )
        drawn = sorted({s["sample_id"] for s in owner_sampled["samples"]})
        assert len(drawn) == 5
        # Accept all drawn except one (rejected, score-less), with scores A and B.
        comments = [
            {"sample_id": s, "accept": s != drawn[0], "score": "A" if i % 2 else "B", "comment": "fine"}
            for i, s in enumerate(drawn)
        ]
        comments[0].pop("score")
        ok(
            world.alice.aksk.post(
                tasks_path(world, dataset_id, f"/{task_id}/acceptance/batch-comment"),
                json={"comments": comments},
            )
        )
        report = ok(
            world.alice.aksk.get(
                tasks_path(world, dataset_id, f"/{task_id}/acceptance/report"),
                params={"checking_task_id": check_id},
            )
        )
        stats = report["checking_stats"]
        # Hand computation: pool 10, sampled 5, checked 5, accepted 4, rejected 1;
        # points: B 80, A 100, B 80, A 100 and the reject 0 -> 360, mean 72 -> "B".
        expected_points = sum(80 if i % 2 == 0 else 100 for i in range(1, 5))
        assert stats["total_sample_count"] == 10
        assert stats["sampled_sample_count"] == 5
        assert stats["checked_sample_count"] == 5
        assert stats["accepted_sample_count"] == 4
        assert stats["rejected_sample_count"] == 1
        assert stats["unchecked_sample_count"] == 0
        assert stats["pass_rate"] == pytest.approx(0.8)
        assert stats["total_score"] == expected_points
        assert stats["score"] == "B"
        assert stats["sampling_rate"] == 0.5
        # Action 3 lists conflicts: the two samples where a and b disagree.
        status = tasks_path(world, dataset_id, f"/{task_id}/acceptance/status")
        conflicts = ok(world.alice.aksk.put(status, json={"action": 3}))
        assert sorted(s["sample_id"] for s in conflicts["samples"]) == sorted(b_samples[-2:])
        # Action 4: sampled-accepted and not sampled pass; the rejected one goes back.
        ok(world.alice.aksk.put(status, json={"action": 4}))
        labels = dataset_labels(world, dataset_id)
        expected = {s: (["cat"] if s != drawn[0] and s not in b_samples[-2:] else []) for s in ids}
        assert labels == expected
        detail = ok(world.alice.aksk.get(tasks_path(world, dataset_id, f"/{task_id}")))
        assert detail["status"] == 4  # something was rejected: labelers rework
        assert detail["checking_task_desc"]["checking_task_id"] == check_id
        assert detail["checking_task_desc"]["action"] == 4
    finally:
        team.close()


@pytest.mark.parametrize("action", [0, 1, 2, 3, 4, 5])
def test_each_closing_action(world: World, action: int) -> None:
    """Six samples, repetition 1, no reviewers; four drawn: two accepted, one rejected, one
    left unchecked; two not drawn. The dataset ends with exactly what the action passes."""
    team = Team(world, labelers=2, reviewers=0)
    try:
        dataset_id, ids = make_dataset(world.alice, 6)
        task_id = create(team, dataset_id)
        for person in team.labelers:
            label_all(person, world, dataset_id, task_id)
        ok(
            world.alice.aksk.post(
                tasks_path(world, dataset_id, f"/{task_id}/acceptance"), json={"sampling_num": 4}
            )
        )
        sampled = ok(
            world.alice.aksk.get(
                tasks_path(world, dataset_id, f"/{task_id}/data-annotations/samples"),
                params={"sample_state": "__WORKFORCE_SAMPLED__", "limit": 100},
            )
        )["samples"]
        drawn = sorted(s["sample_id"] for s in sampled)
        assert len(drawn) == 4
        good, bad, unchecked = drawn[:2], drawn[2], drawn[3]
        others = sorted(set(ids) - set(drawn))
        comments = [{"sample_id": s, "accept": True, "score": "A"} for s in good]
        comments.append({"sample_id": bad, "accept": False, "comment": "wrong"})
        ok(
            world.alice.aksk.post(
                tasks_path(world, dataset_id, f"/{task_id}/acceptance/batch-comment"),
                json={"comments": comments},
            )
        )
        answer = ok(
            world.alice.aksk.put(
                tasks_path(world, dataset_id, f"/{task_id}/acceptance/status"), json={"action": action}
            )
        )
        passed = {
            0: set(ids),
            1: set(),
            2: set(),
            3: set(),
            4: set(good) | {unchecked} | set(others),
            5: set(good),
        }[action]
        labels = dataset_labels(world, dataset_id)
        assert labels == {s: (["cat"] if s in passed else []) for s in ids}
        detail = ok(world.alice.aksk.get(tasks_path(world, dataset_id, f"/{task_id}")))
        states = Counter(
            s["sample_status"]
            for s in ok(
                world.alice.aksk.get(
                    tasks_path(world, dataset_id, f"/{task_id}/data-annotations/samples"),
                    params={"limit": 100},
                )
            )["samples"]
        )
        if action == 0:
            assert detail["status"] == 3 and states == {"__ACCEPTED__": 6}
        elif action == 1:
            assert detail["status"] == 4 and states == {"__REJECTED__": 6}
        elif action == 2:
            assert detail["status"] == 1 and states == {"__UNCHECK__": 6}
            assert answer == {"sample_count": 0, "samples": []}
        elif action == 3:
            assert detail["status"] == 2 and answer == {"sample_count": 0, "samples": []}
        elif action == 4:
            assert detail["status"] == 4 and states == {"__ACCEPTED__": 5, "__REJECTED__": 1}
        else:
            assert detail["status"] == 4 and states == {"__ACCEPTED__": 2, "__REJECTED__": 4}
    finally:
        team.close()
