"""The team labeling pages over HTTP on a live server (SQLite and PostgreSQL): who may open
which page and make which call. A member sees only the tasks that name them (404 otherwise, as
in the API), a role's page is 403 to the other roles, the owner's pages are 403 to members."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from tests.conftest import PASSWORD, LiveServer, Tenant, assert_error
from tests.team_tasks.helpers import Person, add_person, add_team, make_dataset
from tests.web import csrf_of, page_client, sign_in

DATA = re.compile(r'<script type="application/json" id="(?:review|verdict)-data">(.*?)</script>', re.S)


@dataclass
class Setup:
    dataset_id: str
    task_id: str
    labeler: Person
    reviewer: Person
    outsider: Person  # a labeler of the project, in no task

    def path(self, suffix: str) -> str:
        return f"/ui/work/{self.dataset_id}/{self.task_id}/{suffix}"

    @property
    def acceptance(self) -> str:
        return f"/ui/datasets/{self.dataset_id}/team-tasks/{self.task_id}/acceptance"


@pytest.fixture
def setup(live_server: LiveServer, tenant: Tenant) -> Iterator[Setup]:
    team = add_team(tenant)
    labeler = add_person(live_server, tenant, team, 0)
    reviewer = add_person(live_server, tenant, team, 1)
    outsider = add_person(live_server, tenant, add_team(tenant), 0)
    dataset_id, _ids = make_dataset(tenant, 3)
    body = {"task_name": "pages", "workforces_config": {"workforces": [{"workforce_id": team}]}}
    created = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/workforce-tasks"), json=body)
    assert created.status_code == 200, created.text
    yield Setup(dataset_id, created.json()["task_id"], labeler, reviewer, outsider)
    for person in (labeler, reviewer, outsider):
        person.close()


@contextmanager
def _signed_in(live_server: LiveServer, email: str) -> Iterator[httpx.Client]:
    with page_client(live_server.url) as client:
        response = sign_in(client, email, PASSWORD)
        assert response.status_code == 303, response.text
        yield client


def _post_json(client: httpx.Client, path: str, csrf: str, body: object) -> httpx.Response:
    return client.post(path, content=json.dumps(body), headers={"X-CSRF-Token": csrf})


def test_a_labeler_lands_on_their_tasks_and_labels_only_their_own(
    live_server: LiveServer, tenant: Tenant, setup: Setup
) -> None:
    with page_client(live_server.url) as client:
        landing = sign_in(client, setup.labeler.email, PASSWORD)
        assert landing.status_code == 303 and landing.headers["location"] == "/ui/work"
        work = client.get("/ui/work")
        assert work.status_code == 200 and setup.task_id in work.text and "My tasks" in work.text
        assert "3 to do" in work.text and 'href="/ui/datasets"' not in work.text
        queue = client.get(setup.path("label"))
        assert queue.status_code == 200, queue.text
        found = DATA.search(queue.text)
        assert found
        data = json.loads(found.group(1))
        assert len(data["samples"]) == 3 and data["save_url"].endswith("/samples/{sample}/labels")
        csrf = csrf_of(queue.text)
        first = data["samples"][0]["id"]
        saved = _post_json(
            client, setup.path(f"samples/{first}/labels"), csrf, {"labels": [{"name": "cat", "type": 0}]}
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["counts"]["done"] == 1 and saved.json()["counts"]["todo"] == 2
        # The result is the labeler's in the task (the API says so), not yet the dataset's.
        path = tenant.v2(f"/datasets/{setup.dataset_id}/workforce-tasks/{setup.task_id}")
        mine = setup.labeler.client.get(path + f"/data-annotations/samples/{first}").json()
        assert mine["sample_status"] == "__UNREVIEWED__" and mine["labels"][0]["name"] == "cat"
        # No CSRF token, a sample that is not theirs, labels that are not a list.
        refused = client.post(setup.path(f"samples/{first}/labels"), json={"labels": []})
        assert refused.status_code == 403
        missing = _post_json(client, setup.path("samples/nope/labels"), csrf, {"labels": []})
        assert missing.status_code == 404
        bad = _post_json(client, setup.path(f"samples/{first}/labels"), csrf, {"labels": "cat"})
        assert bad.status_code == 400
        # A labeler may not review, nor open the owner's pages.
        assert client.get(setup.path("review")).status_code == 403
        verdict = _post_json(client, setup.path("review"), csrf, {"sample_id": first, "accept": True})
        assert_error(verdict, 403, "ModelArts.4600")
        assert client.get(setup.acceptance).status_code == 403
        assert client.get(f"/ui/datasets/{setup.dataset_id}/team-tasks").status_code == 403
        assert client.get("/ui/datasets").status_code == 403
        start = client.post(
            setup.acceptance + "/start", data={"csrf_token": csrf, "by": "rate", "amount": "50"}
        )
        assert start.status_code == 403


def test_a_reviewer_reviews_and_cannot_label(live_server: LiveServer, setup: Setup) -> None:
    with _signed_in(live_server, setup.labeler.email) as labeler:
        queue = labeler.get(setup.path("label"))
        data = json.loads(DATA.search(queue.text).group(1))  # type: ignore[union-attr]
        ids = [s["id"] for s in data["samples"]]
        for sample_id in ids:
            saved = _post_json(
                labeler,
                setup.path(f"samples/{sample_id}/labels"),
                csrf_of(queue.text),
                {"labels": [{"name": "dog"}]},
            )
            assert saved.status_code == 200, saved.text
    with _signed_in(live_server, setup.reviewer.email) as client:
        assert client.get(setup.path("label")).status_code == 403
        work = client.get("/ui/work")
        assert "3 waiting for review" in work.text
        page = client.get(setup.path("review"))
        assert page.status_code == 200, page.text
        data = json.loads(DATA.search(page.text).group(1))  # type: ignore[union-attr]
        assert sorted(s["id"] for s in data["samples"]) == sorted(ids)
        item = data["samples"][0]
        body = {"sample_id": item["id"], "worker_id": item["worker_id"], "accept": False, "comment": "no"}
        answer = _post_json(client, setup.path("review"), csrf_of(page.text), body)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"counts": {"waiting": 2}}
        bad_score = _post_json(
            client, setup.path("review"), csrf_of(page.text), {**body, "accept": True, "score": "Z"}
        )
        assert bad_score.status_code == 400
        assert client.get(setup.acceptance).status_code == 403


def test_members_outside_a_task_or_project_get_404(
    live_server: LiveServer, tenant: Tenant, other_tenant: Tenant, setup: Setup
) -> None:
    stranger = add_person(live_server, other_tenant, add_team(other_tenant), 0)
    try:
        for person in (setup.outsider, stranger):
            with _signed_in(live_server, person.email) as client:
                work = client.get("/ui/work")
                assert work.status_code == 200 and setup.task_id not in work.text
                for suffix in ("label", "review"):
                    assert client.get(setup.path(suffix)).status_code == 404, (person.email, suffix)
                csrf = csrf_of(work.text)
                saved = _post_json(client, setup.path("samples/x/labels"), csrf, {"labels": []})
                assert saved.status_code == 404
                verdict = _post_json(client, setup.path("review"), csrf, {"sample_id": "x", "accept": True})
                assert verdict.status_code == 404
    finally:
        stranger.close()
    # Another project's owner: the task's pages are 404, as in the API.
    with _signed_in(live_server, "mallory") as owner:
        assert owner.get(setup.acceptance).status_code == 404
        assert owner.get(f"/ui/datasets/{setup.dataset_id}/team-tasks").status_code == 404
        assert owner.get(setup.path("review")).status_code == 404


def test_a_detection_queue_opens_the_box_editor_saving_to_the_task(
    live_server: LiveServer, tenant: Tenant
) -> None:
    team = add_team(tenant)
    labeler = add_person(live_server, tenant, team, 0)
    try:
        dataset_id, ids = make_dataset(tenant, 2, dataset_type=1)
        body = {"task_name": "boxes", "workforces_config": {"workforces": [{"workforce_id": team}]}}
        created = tenant.aksk.post(tenant.v2(f"/datasets/{dataset_id}/workforce-tasks"), json=body)
        task_id = created.json()["task_id"]
        with _signed_in(live_server, labeler.email) as client:
            page = client.get(f"/ui/work/{dataset_id}/{task_id}/label")
            assert page.status_code == 200, page.text
            found = re.search(r'id="boxes-data">(.*?)</script>', page.text, re.S)
            assert found and "/ui/static/boxes.js" in page.text
            data = json.loads(found.group(1))
            assert (
                data["sample"]["id"] in ids and data["next_url"] == f"/ui/work/{dataset_id}/{task_id}/label"
            )
            box = {
                "name": "cat",
                "type": 1,
                "property": {"@modelarts:shape": "bndbox", "@modelarts:feature": [[1, 2], [30, 40]]},
            }
            url = data["save_url"].replace("{sample}", data["sample"]["id"])
            saved = _post_json(client, url, csrf_of(page.text), {"labels": [box]})
            assert saved.status_code == 200, saved.text
            after = client.get(f"/ui/work/{dataset_id}/{task_id}/label")
            following = json.loads(re.search(r'id="boxes-data">(.*?)</script>', after.text, re.S).group(1))  # type: ignore[union-attr]
            assert following["sample"]["id"] != data["sample"]["id"]
        # The owner's view of the task through the API: the box is the labeler's result.
        path = tenant.v2(f"/datasets/{dataset_id}/workforce-tasks/{task_id}/data-annotations/samples")
        result = tenant.aksk.get(f"{path}/{data['sample']['id']}").json()
        assert result["labels"][0]["property"]["@modelarts:feature"] == [[1, 2], [30, 40]]
    finally:
        labeler.close()


def test_the_acceptance_page_shows_agreement_and_gold_accuracy(
    live_server: LiveServer, tenant: Tenant, setup: Setup
) -> None:
    base = tenant.v2(f"/datasets/{setup.dataset_id}/workforce-tasks/{setup.task_id}")
    mine = setup.labeler.client.get(base + "/data-annotations/samples").json()["samples"]
    gold = {"samples": [{"sample_id": mine[0]["sample_id"], "labels": [{"name": "cat"}]}]}
    assert tenant.aksk.put(base + "/gold-samples", json=gold).status_code == 200
    body = {"samples": [{"sample_id": mine[0]["sample_id"], "labels": [{"name": "dog", "type": 0}]}]}
    assert setup.labeler.client.put(base + "/data-annotations/samples", json=body).json()["success"]
    with _signed_in(live_server, "alice") as owner:
        page = owner.get(setup.acceptance)
        assert page.status_code == 200, page.text
        section = page.text.split('data-testid="quality"', 1)[1]
        assert "Gold samples" in section and "(1)" in section
        row = section.split('data-testid="gold-row"', 1)[1].split("</tr>", 1)[0]
        assert setup.labeler.email in row and "0.0%" in row
        assert "repetition 1" in section
