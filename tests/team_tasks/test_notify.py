"""Notify (SendEmails): the owner, or the task's administrator (``agency``), mails members of a
team task; each address gets its own result; the mail waits in the outbox (no SMTP here) and
the member's worker-task row shows when they were last notified."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from labelarts.storage.db.models import OutboxMessage
from tests.api import World, shared_world
from tests.conftest import assert_error
from tests.team_tasks.helpers import add_person, add_team, make_dataset
from tests.web import csrf_of, page_client


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with shared_world(tmp_path_factory.mktemp("team-notify")) as w:
        yield w


def _outbox(world: World, recipient: str) -> list[dict[str, object]]:
    messages = world.server.services.outbox.messages(project_id=world.alice.project_id)
    return [m for m in messages if m["recipient"] == recipient]


def _body(world: World, recipient: str) -> str:
    with world.server.services.db.session() as session:
        rows = session.execute(
            select(OutboxMessage.body).where(
                OutboxMessage.recipient == recipient, OutboxMessage.project_id == world.alice.project_id
            )
        ).scalars()
        return "\n".join(rows)


def test_owner_notifies_members_item_by_item(world: World) -> None:
    team_id = add_team(world.alice)
    labeler = add_person(world.server, world.alice, team_id, 0)
    reviewer = add_person(world.server, world.alice, team_id, 1)
    outsider = add_person(world.server, world.alice, add_team(world.alice), 0)
    try:
        # A worker without an account yet: their mail carries an invitation link.
        fresh = f"fresh-{uuid.uuid4().hex[:8]}@example.com"
        added = world.alice.aksk.post(
            world.alice.v2(f"/workforces/{team_id}/workers"), json={"emails": fresh, "role": 0}
        )
        assert added.status_code == 201, added.text
        dataset_id, _ = make_dataset(world.alice, 3)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"workforces": [{"workforce_id": team_id}]}
        created = world.alice.aksk.post(base, json={"task_name": "mail-me", "workforces_config": config})
        task_id = created.json()["task_id"]
        emails = [labeler.email, reviewer.email.upper(), "not an address", outsider.email]
        response = world.alice.aksk.post(f"{base}/{task_id}/notify", json={"emails": emails})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["success"] is False
        assert [r["success"] for r in body["results"]] == [True, True, False, False]
        assert body["results"][2]["error_code"] == "ModelArts.0104"
        assert body["results"][3]["error_code"] == "ModelArts.4604"

        (mail,) = _outbox(world, labeler.email)
        assert "mail-me" in str(mail["subject"])
        assert mail["state"] == "queued"  # no SMTP configured: it waits for `labelarts outbox`
        assert len(_outbox(world, reviewer.email)) == 1
        assert _outbox(world, outsider.email) == []

        # Again at once: too soon for the same member and task; nothing more is queued.
        again = world.alice.aksk.post(f"{base}/{task_id}/notify", json={"emails": [labeler.email]})
        assert again.status_code == 200
        assert again.json()["results"][0]["error_code"] == "ModelArts.4627"
        assert len(_outbox(world, labeler.email)) == 1

        invited = world.alice.aksk.post(f"{base}/{task_id}/notify", json={"emails": [fresh]})
        assert invited.json()["success"] is True, invited.text
        link = re.search(r"/ui/invitation#(\S+)", _body(world, fresh))
        assert link is not None
        assert "/ui/invitation#" not in _body(world, labeler.email)  # has an account already
        with page_client(world.server.url) as page:
            form = page.get("/ui/invitation")
            accepted = page.post(
                "/ui/invitation",
                data={
                    "csrf_token": csrf_of(form.text),
                    "token": link.group(1),
                    "password": "a long password",
                    "password_again": "a long password",
                },
            )
            assert accepted.status_code == 303, accepted.text

        rows = labeler.client.get(world.alice.v2("/workforces/worker-tasks")).json()
        (row,) = [r for r in rows["worker_tasks"] if r["task_id"] == task_id]
        assert row["email_status"] == 0  # queued, not sent
        assert isinstance(row["last_notify_time"], int) and row["last_notify_time"] > 0
    finally:
        for person in (labeler, reviewer, outsider):
            person.close()


def test_only_the_owner_or_the_agency_may_notify(world: World) -> None:
    team_id = add_team(world.alice)
    labeler = add_person(world.server, world.alice, team_id, 0)
    admin = add_person(world.server, world.alice, team_id, 2)
    stranger = add_person(world.server, world.mallory, add_team(world.mallory), 0)
    try:
        dataset_id, _ = make_dataset(world.alice, 2)
        base = world.alice.v2(f"/datasets/{dataset_id}/workforce-tasks")
        config = {"agency": admin.email, "workforces": [{"workforce_id": team_id}]}
        task_id = world.alice.aksk.post(base, json={"task_name": "ag", "workforces_config": config}).json()[
            "task_id"
        ]
        url = f"{base}/{task_id}/notify"
        assert_error(labeler.client.post(url, json={"emails": [admin.email]}), 403, "ModelArts.4600")
        # Another project's member: not authorized for this project at all.
        assert_error(stranger.client.post(url, json={"emails": [labeler.email]}), 403, "ModelArts.4630")
        by_admin = admin.client.post(url, json={"emails": [labeler.email]})
        assert by_admin.status_code == 200 and by_admin.json()["success"] is True, by_admin.text
        assert len(_outbox(world, labeler.email)) == 1
        # Bad bodies are the call's 400, not an item's.
        for bad in ({}, {"emails": []}, {"emails": "a@example.com"}, {"emails": ["x" * 2000]}):
            assert_error(world.alice.aksk.post(url, json=bad), 400)
        assert_error(world.alice.aksk.post(f"{base}/nosuchtask/notify", json={"emails": ["a@b.co"]}), 404)
    finally:
        for person in (labeler, admin, stranger):
            person.close()
