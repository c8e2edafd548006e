"""The agreement report and gold samples (LabelArts extensions, docs/team-labeling.md
"Agreement and gold samples"): the figures against scikit-learn's and statsmodels' own results
on the same data, a tiny case by hand, gold samples a labeler cannot tell from others, and
their answers never reaching the dataset."""

from __future__ import annotations

import math
from collections.abc import Iterator
from itertools import combinations
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

from labelarts.services.team_tasks.agreement import agreement, cohen, fleiss, gold_accuracy, observed
from tests.api import World, shared_world
from tests.conftest import assert_error
from tests.team_tasks.helpers import Person, add_person, add_team, cat, make_dataset


def labels(*names: str) -> list[dict[str, Any]]:
    return [{"name": n, "type": 0} for n in names]


# -- pure -----------------------------------------------------------------------------------------


def test_a_tiny_case_by_hand() -> None:
    """Two raters, four items: they agree on 3 (cat, cat, dog) and split on the last.
    p_o = 3/4; rater A says cat 2, dog 2; B cat 3, dog 1: p_e = (2*3 + 2*1) / 16 = 1/2;
    kappa = (3/4 - 1/2) / (1 - 1/2) = 1/2. Fleiss over the same table: P-bar = 3/4, category
    shares cat 5/8, dog 3/8, P-e = 25/64 + 9/64 = 34/64; kappa = (48/64 - 34/64) / (30/64) = 7/15."""
    a = ["cat", "cat", "dog", "dog"]
    b = ["cat", "cat", "dog", "cat"]
    assert cohen(a, b) == pytest.approx(0.5)
    rows = [list(pair) for pair in zip(a, b, strict=True)]
    assert observed(rows) == pytest.approx(0.75)
    assert fleiss(rows) == pytest.approx(7 / 15)
    results = {f"s{i}": {"A": labels(x), "B": labels(y)} for i, (x, y) in enumerate(zip(a, b, strict=True))}
    report = agreement(results, ["A", "B"], 2)
    assert report["overall"]["fleiss_kappa"] == pytest.approx(7 / 15)
    assert report["overall"]["sample_count"] == 4
    assert report["pairs"] == [
        {
            "worker_ids": ["A", "B"],
            "cohen_kappa": pytest.approx(0.5),
            "observed_agreement": 0.75,
            "sample_count": 4,
        }
    ]
    # Per label "cat" (present / absent) is the same table here, "dog" too.
    by_name = {row["name"]: row for row in report["labels"]}
    assert by_name["cat"]["fleiss_kappa"] == pytest.approx(7 / 15)
    assert by_name["dog"]["fleiss_kappa"] == pytest.approx(7 / 15)


def test_undefined_kappas_are_none() -> None:
    """One category everywhere: chance agreement is 1 and kappa undefined (no NaN, no warning)."""
    assert cohen(["cat", "cat"], ["cat", "cat"]) is None
    assert cohen([], []) is None
    assert fleiss([["cat", "cat"], ["cat", "cat"]]) is None
    assert fleiss([]) is None
    report = agreement({}, ["A", "B"], 2)
    assert report["overall"]["fleiss_kappa"] is None and report["pairs"][0]["cohen_kappa"] is None


def test_the_figures_equal_the_libraries_on_random_data() -> None:
    rng = np.random.default_rng(7)
    workers = ["w0", "w1", "w2", "w3"]
    names = ["cat", "dog", "bird"]
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for i in range(60):
        chosen = rng.choice(len(workers), size=3, replace=False)
        truth = names[int(rng.integers(3))]
        results[f"s{i:02d}"] = {
            workers[int(w)]: labels(truth if rng.random() < 0.7 else names[int(rng.integers(3))])
            for w in chosen
        }
    report = agreement(results, workers, 3)
    rows = [[res[0]["name"] for _, res in sorted(r.items())] for _, r in sorted(results.items())]
    table, _ = aggregate_raters(np.array(rows))
    assert report["overall"]["fleiss_kappa"] == pytest.approx(fleiss_kappa(table, method="fleiss"))
    for pair in report["pairs"]:
        a, b = pair["worker_ids"]
        common = sorted(s for s, r in results.items() if a in r and b in r)
        expected = cohen_kappa_score(
            [results[s][a][0]["name"] for s in common], [results[s][b][0]["name"] for s in common]
        )
        assert pair["sample_count"] == len(common)
        assert pair["cohen_kappa"] == pytest.approx(expected)
    for row in report["labels"]:
        binary = np.array([[int(r == row["name"]) for r in item] for item in rows])
        table, _ = aggregate_raters(binary)
        assert row["fleiss_kappa"] == pytest.approx(fleiss_kappa(table, method="fleiss"))


def test_gold_accuracy_counts_what_was_handed_in() -> None:
    answers = {"g1": labels("cat"), "g2": labels("dog")}
    results = {"g1": {"A": labels("cat"), "B": labels("dog")}, "g2": {"A": labels("cat")}}
    scores = gold_accuracy(results, answers, ["A", "B", "C"])
    assert scores["A"] == {
        "gold_sample_count": 2,
        "gold_labeled_count": 2,
        "gold_correct_count": 1,
        "gold_accuracy": 0.5,
    }
    assert scores["B"]["gold_accuracy"] == 0.0
    assert scores["C"]["gold_accuracy"] is None


# -- over HTTP ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("team-agreement")) as w:
        yield w


def _mine(person: Person, base: str, task_id: str) -> list[dict[str, Any]]:
    r = person.client.get(f"{base}/{task_id}/data-annotations/samples", params={"limit": 100})
    assert r.status_code == 200, r.text
    return list(r.json()["samples"])


def _save(person: Person, base: str, task_id: str, items: dict[str, list[dict[str, Any]]]) -> None:
    body = {"samples": [{"sample_id": s, "labels": v} for s, v in items.items()]}
    r = person.client.put(f"{base}/{task_id}/data-annotations/samples", json=body)
    assert r.status_code == 200 and r.json()["success"], r.text


def test_the_report_over_http_equals_the_libraries(world: World) -> None:
    team_id = add_team(world.alice)
    people = [add_person(world.server, world.alice, team_id, 0) for _ in range(3)]
    admin = add_person(world.server, world.alice, team_id, 2)
    try:
        dataset_id, ids = make_dataset(world.alice, 9)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"workforces": [{"workforce_id": team_id}]}
        r = world.alice.aksk.post(
            base, json={"task_name": "agree", "repetition": 2, "workforces_config": config}
        )
        task_id = r.json()["task_id"]
        # Each labeler says cat, except on the samples at even positions of the dataset
        # where the labeler at position 0 says dog.
        order = {s: i for i, s in enumerate(ids)}
        given: dict[str, dict[str, str]] = {}
        for k, person in enumerate(people):
            items = {}
            for row in _mine(person, base, task_id):
                name = "dog" if k == 0 and order[row["sample_id"]] % 2 == 0 else "cat"
                items[row["sample_id"]] = labels(name)
                given.setdefault(row["sample_id"], {})[person.worker_id] = name
            _save(person, base, task_id, items)
        for who in (world.alice.aksk, admin.client):
            r = who.get(f"{base}/{task_id}/agreement")
            assert r.status_code == 200, r.text
        report = r.json()
        assert report["repetition"] == 2 and report["gold_sample_count"] == 0
        rows = [[v for _, v in sorted(by.items())] for _, by in sorted(given.items())]
        table, _ = aggregate_raters(np.array(rows))
        expected = fleiss_kappa(table, method="fleiss")
        got = report["overall"]["fleiss_kappa"]
        assert (got is None and math.isnan(expected)) or got == pytest.approx(expected)
        assert report["overall"]["sample_count"] == 9
        workers = [p.worker_id for p in people]
        assert [p["worker_ids"] for p in report["pairs"]] == [list(c) for c in combinations(workers, 2)]
        for pair in report["pairs"]:
            a, b = pair["worker_ids"]
            common = sorted(s for s, by in given.items() if a in by and b in by)
            ra, rb = [given[s][a] for s in common], [given[s][b] for s in common]
            assert pair["sample_count"] == len(common)
            if len(set(ra) | set(rb)) < 2:
                assert pair["cohen_kappa"] is None
            else:
                assert pair["cohen_kappa"] == pytest.approx(cohen_kappa_score(ra, rb))
            assert pair["emails"] == [p.email for p in people if p.worker_id in (a, b)]
        assert [m["email"] for m in report["members"]] == [p.email for p in people]
        # Labelers may not read it: 403 with ModelArts' body.
        assert_error(people[0].client.get(f"{base}/{task_id}/agreement"), 403, "ModelArts.4600")
    finally:
        for p in [*people, admin]:
            p.close()


def _shape(row: dict[str, Any]) -> tuple[Any, ...]:
    """What a member could compare between two rows, ids and names aside."""
    return (
        tuple(sorted(row)),
        row["sample_status"],
        len(row["labelers"]),
        tuple(sorted(row["metadata"])),
        len(row["labels"]),
    )


def test_gold_samples_are_unannounced_scored_and_never_written(world: World) -> None:
    team_id = add_team(world.alice)
    people = [add_person(world.server, world.alice, team_id, 0) for _ in range(3)]
    try:
        # 9 among 3: everyone's share is 3, so each keeps a sample that is not gold whichever
        # way the random seed deals the two gold ones (with 8, a share of 2 could be both).
        dataset_id, ids = make_dataset(world.alice, 9)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"workforces": [{"workforce_id": team_id}]}
        # Two of the task's samples become the owner's gold once it runs: each was dealt to
        # one labeler; now every labeler holds them.
        task_id = world.alice.aksk.post(base, json={"task_name": "gold", "workforces_config": config}).json()[
            "task_id"
        ]
        before = {p.worker_id: {r["sample_id"] for r in _mine(p, base, task_id)} for p in people}
        gold = {ids[0]: labels("cat"), ids[1]: labels("dog")}
        body = {"samples": [{"sample_id": s, "labels": v} for s, v in gold.items()]}
        # Members may not mark or list gold samples.
        assert_error(people[0].client.put(f"{base}/{task_id}/gold-samples", json=body), 403, "ModelArts.4600")
        assert_error(people[0].client.get(f"{base}/{task_id}/gold-samples"), 403, "ModelArts.4600")
        r = world.alice.aksk.put(f"{base}/{task_id}/gold-samples", json=body)
        assert r.status_code == 200, r.text
        assert r.json() == {"gold_sample_count": 2}
        # Every labeler now holds both gold samples, among their own, looking like the others.
        for p in people:
            rows = _mine(p, base, task_id)
            held = {row["sample_id"] for row in rows}
            assert held == before[p.worker_id] | set(gold)
            shapes = {_shape(row) for row in rows}
            assert len(shapes) == 1, shapes
            for sample_id in gold:
                detail = p.client.get(f"{base}/{task_id}/data-annotations/samples/{sample_id}")
                assert detail.status_code == 200, detail.text
                other = next(s for s in held if s not in gold)
                plain = p.client.get(f"{base}/{task_id}/data-annotations/samples/{other}").json()
                assert _shape(detail.json()) == _shape(plain)
                assert [x["worker_id"] for x in detail.json()["labelers"]] == [p.worker_id]
        # Labeler 0 answers both right, 1 one right, 2 nothing yet; everyone labels the rest.
        answers = {
            0: {ids[0]: labels("cat"), ids[1]: labels("dog")},
            1: {ids[0]: labels("cat"), ids[1]: labels("cat")},
            2: {},
        }
        for k, p in enumerate(people):
            items = {s: cat() for s in before[p.worker_id] if s not in gold}
            items.update(answers[k])
            _save(p, base, task_id, items)
        report = world.alice.aksk.get(f"{base}/{task_id}/agreement").json()
        by_worker = {m["worker_id"]: m for m in report["members"]}
        assert [by_worker[p.worker_id]["gold_accuracy"] for p in people] == [1.0, 0.5, None]
        assert [by_worker[p.worker_id]["gold_labeled_count"] for p in people] == [2, 2, 0]
        assert report["gold_sample_count"] == 2
        listing = world.alice.aksk.get(f"{base}/{task_id}/gold-samples").json()
        assert listing["sample_count"] == 2
        assert {s["sample_id"]: (s["labeled_count"], s["correct_count"]) for s in listing["samples"]} == {
            ids[0]: (2, 2),
            ids[1]: (2, 1),
        }
        # Labeler 2 answers too; acceptance passes everything: the gold samples stay out of
        # the dataset, the rest arrive.
        _save(people[2], base, task_id, {ids[0]: labels("dog"), ids[1]: labels("dog")})
        r = world.alice.aksk.post(f"{base}/{task_id}/acceptance", json={"sampling_num": 1})
        assert r.status_code == 200, r.text
        r = world.alice.aksk.put(f"{base}/{task_id}/acceptance/status", json={"action": 0})
        assert r.status_code == 200, r.text
        samples = world.alice.aksk.get(
            world.alice.v2(f"/datasets/{dataset_id}/data-annotations/samples"), params={"limit": 100}
        ).json()["samples"]
        labeled = {s["sample_id"]: [lab["name"] for lab in s["labels"]] for s in samples}
        assert labeled[ids[0]] == [] and labeled[ids[1]] == []
        assert all(labeled[s] == ["cat"] for s in ids[2:])
    finally:
        for p in people:
            p.close()


def test_gold_sample_errors(world: World) -> None:
    team_id = add_team(world.alice)
    people = [add_person(world.server, world.alice, team_id, 0) for _ in range(2)]
    try:
        dataset_id, ids = make_dataset(world.alice, 3)
        _, other_ids = make_dataset(world.alice, 1)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"workforces": [{"workforce_id": team_id}]}
        task_id = world.alice.aksk.post(base, json={"task_name": "g", "workforces_config": config}).json()[
            "task_id"
        ]
        url = f"{base}/{task_id}/gold-samples"
        # Another dataset's sample: 404; no labels, no samples, bad labels: 400, nothing set.
        bad = {"samples": [{"sample_id": other_ids[0], "labels": cat()}]}
        assert_error(world.alice.aksk.put(url, json=bad), 404, "ModelArts.4420")
        assert_error(world.alice.aksk.put(url, json={"samples": [{"sample_id": ids[0], "labels": []}]}), 400)
        assert_error(world.alice.aksk.put(url, json={"samples": []}), 400)
        assert_error(world.alice.aksk.put(url, json={}), 400, "ModelArts.0104")
        assert_error(world.alice.aksk.put(url, json={"samples": [{"sample_id": ids[0]}]}), 400)
        assert world.alice.aksk.get(url).json() == {"sample_count": 0, "samples": []}
        # An unknown task: 404.
        assert_error(world.alice.aksk.get(f"{base}/nope/gold-samples"), 404, "ModelArts.4619")
        assert_error(world.alice.aksk.get(f"{base}/nope/agreement"), 404, "ModelArts.4619")
        # ...whatever the body: the task is looked up before the body's fields are required.
        assert_error(world.alice.aksk.put(f"{base}/nope/gold-samples", json={}), 404, "ModelArts.4619")
    finally:
        for p in people:
            p.close()
