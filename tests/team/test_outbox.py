"""The mail outbox: sending with retries through a real SMTP server on loopback (aiosmtpd), and
waiting without SMTP, where the CLI lists, exports and marks messages."""

from __future__ import annotations

import email
import email.policy
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from labelarts.config import Settings
from labelarts.container import Services
from labelarts.services.outbox import Outgoing
from tests.cli import cli_env, free_port, ok_json, run_cli
from tests.conftest import LiveServer, Tenant, make_tenant, serving

WAIT_SECONDS = 60  # a bound for background sending on a busy machine, not a speed claim


@dataclass
class Mailbox:
    """An aiosmtpd handler: answers the first ``defer`` recipients with 451, refuses the
    addresses in ``refuse`` with the code given, accepts the rest."""

    defer: int = 0
    refuse: dict[str, str] = field(default_factory=dict)
    received: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        with self.lock:
            if self.defer > 0:
                self.defer -= 1
                return "451 4.3.0 try again later"
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.received.append(message)
        return "250 Message accepted"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()  # aiosmtpd's start-up check connects to the port it was given
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(settings: Settings, mailbox: tuple[Mailbox, int]) -> Iterator[LiveServer]:
    """A server whose in-process worker sends mail to the loopback SMTP server."""
    configured = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": mailbox[1],
            "smtp_security": "none",
            "smtp_from": "labelarts@test.example",
            "smtp_retry_seconds": 0.05,
            "smtp_max_attempts": 3,
            "smtp_timeout_seconds": 10.0,
        }
    )
    with serving(configured) as server:
        yield server


def wait_for(predicate: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def team_member(owner: Tenant, email_address: str) -> tuple[str, str]:
    """A new team with one labeler: (workforce_id, worker_id), through the API."""
    client = owner.aksk
    created = client.post(owner.v2("/workforces"), json={"workforce_name": f"mail-{uuid.uuid4().hex[:6]}"})
    workforce_id = created.json()["workforce_id"]
    path = owner.v2(f"/workforces/{workforce_id}/workers")
    added = client.post(path, json={"emails": email_address, "role": 0})
    assert added.status_code == 201, added.text
    workers = client.get(owner.v2(f"/workforces/{workforce_id}/workers")).json()["workers"]
    return workforce_id, workers[0]["worker_id"]


def worker_status(owner: Tenant, workforce_id: str, worker_id: str) -> int:
    status: int = owner.aksk.get(owner.v2(f"/workforces/{workforce_id}/workers/{worker_id}")).json()["status"]
    return status


def queue(services: Services, project_id: str, *messages: Outgoing) -> list[str]:
    with services.db.session(write=True) as session:
        rows = services.outbox.enqueue(session, project_id, "notify", messages)
        session.flush()
        return [row.id for row in rows]


def outbox_rows(services: Services) -> dict[str, dict[str, Any]]:
    return {m["recipient"]: m for m in services.outbox.messages(state=None)}


def test_with_smtp_mail_is_sent_in_the_background_with_retries(
    smtp_server: LiveServer, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    box.defer = 2  # the first two tries are deferred (451); the third goes through
    services = smtp_server.services
    owner = make_tenant(smtp_server, "owner", uuid.uuid4().hex)
    workforce_id, worker_id = team_member(owner, "ann@example.com")
    assert worker_status(owner, workforce_id, worker_id) == 0
    (ann_id,) = queue(
        services,
        owner.project_id,
        Outgoing("ann@example.com", "Task cats", "Open it at http://x/ui/\n", "task-1", worker_id),
    )
    sent = wait_for(lambda: services.outbox.messages(state="sent"))
    assert [(m["id"], m["email_status"], m["attempts"], m["last_error"]) for m in sent] == [
        (ann_id, 3, 3, None)
    ]
    assert sent[0]["sent_time"] >= sent[0]["create_time"]
    (received,) = box.received
    assert (received["To"], received["From"], received["Subject"]) == (
        "ann@example.com",
        "labelarts@test.example",
        "Task cats",
    )
    assert received.get_content().replace("\r\n", "\n") == "Open it at http://x/ui/\n"  # SMTP sends CRLF
    # Sent mail invites: the worker moves from 0 (not invited) to 1 (invited).
    assert worker_status(owner, workforce_id, worker_id) == 1

    # Refused for good (5xx): failed at the first try; 553 (the address itself) is "bad format".
    box.refuse = {"gone@example.com": "550 5.1.1 no such user", "bad@example.com": "553 5.1.3 bad address"}
    queue(
        services,
        owner.project_id,
        Outgoing("gone@example.com", "x", "y\n"),
        Outgoing("bad@example.com", "x", "y\n"),
    )

    def both_failed() -> list[dict[str, Any]] | None:
        rows = services.outbox.messages(state="failed")
        return rows if len(rows) == 2 else None

    failed = {m["recipient"]: m for m in wait_for(both_failed) or []}
    gone, bad = failed["gone@example.com"], failed["bad@example.com"]
    assert (gone["email_status"], gone["attempts"]) == (2, 1) and "550" in gone["last_error"]
    assert (bad["email_status"], bad["attempts"]) == (1, 1) and "553" in bad["last_error"]
    assert len(box.received) == 1
    owner.aksk.close()
    owner.token_client.close()


def test_with_smtp_a_message_that_never_gets_through_fails_after_the_last_try(
    smtp_server: LiveServer, mailbox: tuple[Mailbox, int]
) -> None:
    box, _port = mailbox
    box.defer = 1000  # always 451
    services = smtp_server.services
    owner = make_tenant(smtp_server, "owner", uuid.uuid4().hex)
    queue(services, owner.project_id, Outgoing("late@example.com", "hello", "body\n"))
    row = wait_for(lambda: next((m for m in services.outbox.messages(state="failed")), None))
    assert (row["state"], row["email_status"], row["attempts"]) == ("failed", 2, 3)
    assert "451" in row["last_error"] and box.received == []
    owner.aksk.close()
    owner.token_client.close()


def test_without_smtp_mail_waits_and_the_cli_lists_exports_and_marks_it(
    live_server: LiveServer, tmp_path: Path
) -> None:
    services = live_server.services
    owner = make_tenant(live_server, "owner", uuid.uuid4().hex)
    workforce_id, worker_id = team_member(owner, "ann@example.com")
    ann_id, bob_id = queue(
        services,
        owner.project_id,
        Outgoing("ann@example.com", "Task cats", "Hello Ann\n", "task-1", worker_id),
        Outgoing("bob@example.com", "Task dogs", "Hello Bob\n"),
    )
    settings = services.settings
    env = cli_env(
        LABELARTS_DATA_DIR=str(settings.resolved_data_dir),
        LABELARTS_DATABASE_URL=settings.resolved_database_url,
        LABELARTS_SECRET_KEY=str(settings.secret_key),
    )
    listed = ok_json(run_cli("outbox", "list", "-o", "json", env=env))
    # Queued together (same create_time): oldest first, then by id.
    assert sorted((m["id"], m["recipient"], m["state"], m["email_status"]) for m in listed) == sorted(
        [
            (ann_id, "ann@example.com", "queued", 0),
            (bob_id, "bob@example.com", "queued", 0),
        ]
    )
    table = run_cli("outbox", "list", env=env)
    assert table.returncode == 0 and "ann@example.com" in table.stdout and "Task dogs" in table.stdout

    exported = ok_json(run_cli("outbox", "export", str(tmp_path / "eml"), env=env))
    assert sorted(Path(p).name for p in exported) == sorted([f"{ann_id}.eml", f"{bob_id}.eml"])
    raw = (tmp_path / "eml" / f"{ann_id}.eml").read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert (message["To"], message["Subject"]) == ("ann@example.com", "Task cats")
    assert message.get_content() == "Hello Ann\n"

    # Forwarded by hand: sent, and the member counts as invited; it leaves the queued list.
    assert run_cli("outbox", "mark-sent", ann_id, env=env).returncode == 0
    assert worker_status(owner, workforce_id, worker_id) == 1
    assert [m["id"] for m in ok_json(run_cli("outbox", "list", "-o", "json", env=env))] == [bob_id]
    sent = ok_json(run_cli("outbox", "list", "--state", "sent", "-o", "json", env=env))
    assert [(m["id"], m["email_status"]) for m in sent] == [(ann_id, 3)]
    again = run_cli("outbox", "mark-sent", ann_id, env=env)
    assert again.returncode == 1 and "not queued" in again.stderr
    assert run_cli("outbox", "list", "--state", "maybe", env=env).returncode == 2
    owner.aksk.close()
    owner.token_client.close()
