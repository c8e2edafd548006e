"""The team labeling pages in a real headless Chromium, against a live server (SQLite and
PostgreSQL: these pages are new and their setup goes through the team-task API).

A labeler signs in and works through their queue with the keyboard; a reviewer accepts one
result and rejects one with a comment, and the rejected one comes back to the labeler's queue
with the comment; the owner draws samples, judges them and closes from the acceptance page,
and the dataset's labels are what acceptance decided. The API checks each step. axe-core
checks every new page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import PASSWORD, LiveServer, Tenant
from tests.team_tasks.helpers import Person, add_person, add_team, make_dataset
from tests.web.browser import chromium, chromium_missing, run_axe, sign_in_page

pytestmark = pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))

WAIT_MS = 120_000  # a deadline for waits on a busy machine, not a timed assertion


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


class Team:
    def __init__(self, live_server: LiveServer, tenant: Tenant, samples: int) -> None:
        self.owner = tenant
        team = add_team(tenant)
        self.labeler: Person = add_person(live_server, tenant, team, 0)
        self.reviewer: Person = add_person(live_server, tenant, team, 1)
        self.dataset_id, self.sample_ids = make_dataset(tenant, samples)
        body = {"task_name": "street_signs", "workforces_config": {"workforces": [{"workforce_id": team}]}}
        created = tenant.aksk.post(self.path(""), json=body)
        assert created.status_code == 200, created.text
        self.task_id = created.json()["task_id"]

    def path(self, suffix: str) -> str:
        base = self.owner.v2(f"/datasets/{self.dataset_id}/workforce-tasks")
        return base + (f"/{self.task_id}{suffix}" if suffix else "")

    def results(self) -> dict[str, dict[str, Any]]:
        """The task's results by sample name, as the owner reads them through the API."""
        body = self.owner.aksk.get(self.path("/data-annotations/samples"), params={"limit": 100}).json()
        return {s["sample_name"]: s for s in body["samples"]}

    def close(self) -> None:
        self.labeler.close()
        self.reviewer.close()


@pytest.fixture
def team(live_server: LiveServer, tenant: Tenant) -> Iterator[Team]:
    made = Team(live_server, tenant, 3)
    yield made
    made.close()


def _axe(page: Any, problems: dict[str, list[str]]) -> None:
    """axe-core on the page as it is now, in a copy of it whose CSP lets axe's script in (the
    flows themselves run under the pages' own CSP)."""
    copy = page.context.browser.new_context(
        viewport={"width": 1280, "height": 800}, bypass_csp=True, storage_state=page.context.storage_state()
    )
    try:
        other = copy.new_page()
        other.goto(page.url)
        other.wait_for_load_state("networkidle")
        found = run_axe(other)
    finally:
        copy.close()
    serious = [f"{v['id']}: {v['help']}" for v in found if v.get("impact") in ("serious", "critical")]
    if serious:
        problems[page.url] = serious


def _current(page: Any, root: str) -> str:
    name: str = page.get_by_test_id("sample-name").inner_text()
    assert page.locator(root).get_attribute("data-sample-id")
    return name


def _label_queue(page: Any, live_server: LiveServer, team: Team) -> None:
    page.goto(f"{live_server.url}/ui/work")
    row = page.get_by_test_id("my-task").filter(has_text="street_signs")
    row.get_by_role("link", name="Label").click()
    page.locator("#review[data-sample-id]").wait_for(timeout=WAIT_MS)


def test_label_review_and_rework_with_the_keyboard(browser: Any, live_server: LiveServer, team: Team) -> None:
    problems: dict[str, list[str]] = {}
    labeler = browser.new_context(viewport={"width": 1280, "height": 800})
    page = labeler.new_page()
    sign_in_page(page, live_server.url, team.labeler.email, PASSWORD)
    page.get_by_role("heading", name="My tasks").wait_for()
    assert "3 to do" in page.get_by_test_id("progress").inner_text()
    _axe(page, problems)
    _label_queue(page, live_server, team)
    _axe(page, problems)

    # Arrows move without changing anything; number keys label, hand in and go on.
    first = _current(page, "#review")
    page.keyboard.press("ArrowRight")
    assert _current(page, "#review") != first
    page.keyboard.press("ArrowLeft")
    assert _current(page, "#review") == first
    chosen: dict[str, str] = {}
    for key, label in (("1", "cat"), ("2", "dog"), ("1", "cat")):
        chosen[_current(page, "#review")] = label
        page.keyboard.press(key)
    # At the end of the queue the page loads the queue again, once every save is answered.
    page.get_by_test_id("queue-empty").wait_for(timeout=WAIT_MS)
    assert page.locator("[data-count=done]").inner_text() == "3"
    results = team.results()
    assert {name: [lab["name"] for lab in s["labels"]] for name, s in results.items()} == {
        name: [label] for name, label in chosen.items()
    }
    assert {s["sample_status"] for s in results.values()} == {"__UNREVIEWED__"}

    # The reviewer: score B and accept one, reject one with a comment, accept the last.
    reviewer = browser.new_context(viewport={"width": 1280, "height": 800})
    review = reviewer.new_page()
    sign_in_page(review, live_server.url, team.reviewer.email, PASSWORD)
    review.get_by_test_id("my-task").filter(has_text="street_signs").get_by_role(
        "link", name="Review"
    ).click()
    review.locator("#verdicts[data-sample-id]").wait_for(timeout=WAIT_MS)
    _axe(review, problems)
    accepted = _current(review, "#verdicts")
    review.keyboard.press("2")
    review.keyboard.press("Enter")
    rejected = _current(review, "#verdicts")
    assert rejected != accepted
    review.keyboard.press("c")
    review.keyboard.type("the sign is a dog")
    review.keyboard.press("Escape")
    review.keyboard.press("r")
    last = _current(review, "#verdicts")
    review.keyboard.press("a")
    review.evaluate("() => window.labelartsVerdicts.pending()")
    review.get_by_test_id("waiting").filter(has_text="0").wait_for(timeout=WAIT_MS)
    results = team.results()
    assert results[accepted]["sample_status"] == "__UNCHECK__" and results[accepted]["review_score"] == "B"
    assert results[last]["sample_status"] == "__UNCHECK__"
    assert results[rejected]["sample_status"] == "__REJECTED__"
    assert results[rejected]["review_comment"] == "the sign is a dog"

    # Back to the labeler: the rejected result is the queue's only sample, with the comment.
    _label_queue(page, live_server, team)
    assert _current(page, "#review") == rejected
    assert page.get_by_test_id("review-comment").inner_text() == "Sent back: the sign is a dog"
    page.keyboard.press("2")
    page.get_by_test_id("queue-empty").wait_for(timeout=WAIT_MS)
    assert page.locator("[data-count=todo]").inner_text() == "0"
    reworked = team.results()[rejected]
    assert reworked["sample_status"] == "__UNREVIEWED__" and reworked["labels"][0]["name"] == "dog"
    labeler.close()
    reviewer.close()
    assert problems == {}


def test_the_owner_samples_judges_and_closes(
    browser: Any, live_server: LiveServer, tenant: Tenant, team: Team
) -> None:
    # Labels and reviews through the API: the labeler says cat everywhere, the reviewer accepts.
    body = {"samples": [{"sample_id": s, "labels": [{"name": "cat"}]} for s in team.sample_ids]}
    assert team.labeler.client.put(team.path("/data-annotations/samples"), json=body).json()["success"]
    comments = {"comments": [{"sample_id": s, "accept": True} for s in team.sample_ids]}
    assert team.reviewer.client.post(team.path("/data-annotations/review"), json=comments).status_code == 200

    problems: dict[str, list[str]] = {}
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in_page(page, live_server.url, "alice", PASSWORD)
    page.goto(f"{live_server.url}/ui/datasets/{team.dataset_id}/team-tasks")
    page.get_by_test_id("team-task").get_by_role("link", name="Acceptance").click()
    page.get_by_test_id("uncheck").filter(has_text="3").wait_for()
    _axe(page, problems)
    page.get_by_label("Share (%)").check()
    page.get_by_label("How many").fill("100")
    page.get_by_test_id("start-sampling").click()
    page.locator("#verdicts[data-sample-id]").wait_for(timeout=WAIT_MS)
    assert page.get_by_test_id("task-status").inner_text() == "in acceptance"
    _axe(page, problems)
    verdicts: dict[str, bool] = {}
    for key in ("Enter", "r", "a"):
        name = _current(page, "#verdicts")
        verdicts[name] = key != "r"
        if key == "r":
            page.keyboard.press("c")
            page.keyboard.type("not a cat")
            page.keyboard.press("Escape")
        page.keyboard.press(key)
    page.evaluate("() => window.labelartsVerdicts.pending()")
    report = tenant.aksk.get(team.path("/acceptance/report")).json()["checking_stats"]
    assert (report["checked_sample_count"], report["accepted_sample_count"]) == (3, 2)

    page.reload()
    page.get_by_test_id("report").wait_for()
    page.get_by_label("Action").select_option("5")
    page.get_by_test_id("close-acceptance").click()
    page.get_by_test_id("notice").wait_for(timeout=WAIT_MS)
    assert "2 samples passed" in page.get_by_test_id("notice").inner_text()
    _axe(page, problems)
    context.close()

    # The dataset has exactly what acceptance passed; the refused sample went back to its labeler.
    listing = tenant.aksk.get(
        tenant.v2(f"/datasets/{team.dataset_id}/data-annotations/samples"), params={"limit": 100}
    ).json()
    in_dataset = {s["sample_name"]: [lab["name"] for lab in s.get("labels", [])] for s in listing["samples"]}
    assert in_dataset == {name: (["cat"] if ok else []) for name, ok in verdicts.items()}
    refused = next(name for name, ok in verdicts.items() if not ok)
    assert team.results()[refused]["sample_status"] == "__REJECTED__"
    assert team.results()[refused]["check_comment"] == "not a cat"
    assert problems == {}
