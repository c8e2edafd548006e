"""A team task's sample list pages the same way whether the filter needs the results' labels
(read row by row) or not (sort keys first, then the page's rows only)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api import World, shared_world
from tests.team_tasks.helpers import add_person, add_team, cat, make_dataset


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("team-listing")) as w:
        yield w


def _pages(client: Any, url: str, **params: Any) -> tuple[list[tuple[str, str]], int]:
    seen: list[tuple[str, str]] = []
    offset, total = 0, -1
    while True:
        r = client.get(url, params={"limit": 4, "offset": offset, **params})
        assert r.status_code == 200, r.text
        body = r.json()
        total = body["sample_count"]
        if not body["samples"]:
            return seen, total
        seen.extend((s["sample_id"], s["worker_id"]) for s in body["samples"])
        offset += 1


def test_the_same_order_with_and_without_label_filters(world: World) -> None:
    team_id = add_team(world.alice)
    people = [add_person(world.server, world.alice, team_id, 0) for _ in range(3)]
    try:
        dataset_id, _ = make_dataset(world.alice, 7)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"workforces": [{"workforce_id": team_id}]}
        task_id = world.alice.aksk.post(
            base, json={"task_name": "pages", "repetition": 2, "workforces_config": config}
        ).json()["task_id"]
        url = f"{base}/{task_id}/data-annotations/samples"
        first = people[0]
        mine, total = _pages(first.client, url, sample_state="__NONE__")
        assert total == len(mine) and {w for _, w in mine} == {first.worker_id}
        # The first labeler hands in all but one; the others everything.
        for person in people:
            own, _ = _pages(person.client, url)
            keep = own[:-1] if person is first else own
            body = {"samples": [{"sample_id": s, "labels": cat()} for s, _ in keep]}
            assert person.client.put(url, json=body).json()["success"]
        left, total = _pages(first.client, url, sample_state="__NONE__")
        assert left == mine[-1:] and total == 1
        every, total = _pages(world.alice.aksk, url)
        assert total == 14 == len(every) == len(set(every))
        handed_in = [row for row in every if row != mine[-1]]
        assert _pages(world.alice.aksk, url, sample_state="__ALL__") == (handed_in, 13)
        assert _pages(world.alice.aksk, url, label_name="cat") == (handed_in, 13)
        assert _pages(world.alice.aksk, url, sample_state="__UNCHECK__") == (handed_in, 13)
        # Sample conditions: the count and the pages are of the matching samples only, with
        # or without a state filter and whichever path answers.
        name = {
            s["sample_id"]: s["sample_name"]
            for s in world.alice.aksk.get(url, params={"limit": 100}).json()["samples"]
        }
        picked = name[every[0][0]]
        conditions = json.dumps([{"sample_name": picked}])
        of_it = [row for row in every if row[0] == every[0][0]]
        assert _pages(world.alice.aksk, url, search_conditions=conditions) == (of_it, 2)
        assert _pages(world.alice.aksk, url, search_conditions=conditions, label_name="cat") == (
            [row for row in of_it if row in handed_in],
            len([row for row in of_it if row in handed_in]),
        )
        mine_left = [row for row in of_it if row == mine[-1]]
        assert _pages(first.client, url, search_conditions=conditions, sample_state="__NONE__") == (
            mine_left,
            len(mine_left),
        )
        # The order: newest sample first, then sample id, then dealing order.
        times = {
            s["sample_id"]: s["sample_time"]
            for s in world.alice.aksk.get(url, params={"limit": 100}).json()["samples"]
        }
        keys = [(-times[s], s) for s, _ in every]
        assert keys == sorted(keys)
    finally:
        for person in people:
            person.close()


def test_nul_in_the_filters_is_4xx_or_nothing_found(world: World) -> None:
    """NUL can match no stored value (and PostgreSQL refuses it in a parameter): a 4xx or an
    empty page, never a 500."""
    team_id = add_team(world.alice)
    person = add_person(world.server, world.alice, team_id, 0)
    dataset_id, _ = make_dataset(world.alice, 2)
    base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
    config = {"workforces": [{"workforce_id": team_id}]}
    created = world.alice.aksk.post(
        base, json={"task_name": "nul", "repetition": 1, "workforces_config": config}
    )
    person.close()
    url = f"{base}/{created.json()['task_id']}/data-annotations/samples"
    for params in (
        {"label_name": "a\x00b"},
        {"sample_state": "__ALL__\x00"},
        {"search_conditions": json.dumps([{"sample_name": "a\x00"}])},
        {"search_conditions": json.dumps([{"label_list": {"labels": [{"name": "a\x00"}]}}])},
    ):
        r = world.alice.aksk.get(url, params=params)
        if r.status_code == 200:
            assert r.json()["samples"] == [], params
        else:
            assert 400 <= r.status_code < 500, (params, r.text)
            assert set(r.json()) >= {"error_code", "error_msg"}
