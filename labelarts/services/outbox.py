"""The mail outbox: notify mail (with invitation links), sent by SMTP when one is configured.

Every message is first a row of ``outbox`` (``state`` queued), written in the transaction of
the request that wants it sent, so a mail exists exactly when the change that caused it
committed. Then:

- **with SMTP** (``LABELARTS_SMTP_HOST``): the :class:`MailSender` of every worker (a
  ``labelarts worker`` process, or the in-process worker of an embedded server) polls for due
  rows and sends them. Each try first claims its row (a conditional UPDATE that moves
  ``next_attempt_at`` past the try's timeout), so several workers never send one message
  at once, and a try whose worker died is due again later (delivery is at least once). A
  message the server accepts is ``sent`` (``email_status`` 3; the worker it was for moves from
  status 0, "not invited", to 1, "invited"). A temporary failure (no connection, a timeout, a
  4xx answer) is tried again after ``smtp_retry_seconds``, doubled each time, up to
  ``smtp_max_attempts`` tries; a permanent refusal (5xx) or the last failed try makes it
  ``failed`` (``email_status`` 2, or 1 when the server refused the address's syntax).
- **without SMTP** the rows stay queued: ``labelarts outbox list`` shows them and ``labelarts
  outbox export`` writes them as ``.eml`` files for an administrator to forward
  (``labelarts outbox mark-sent`` records that they did).

``email_status`` is ModelArts': 0 not sent, 1 bad address format, 2 unreachable, 3 sent.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from labelarts.clock import new_hex_id, now_ms
from labelarts.config import Settings
from labelarts.errors import NotFoundError
from labelarts.services.team import STATUS_INVITED, STATUS_NOT_INVITED
from labelarts.storage.db import Database
from labelarts.storage.db.models import OutboxMessage, Worker

log = logging.getLogger("labelarts.outbox")

QUEUED, SENT, FAILED = "queued", "sent", "failed"
STATES = (QUEUED, SENT, FAILED)
EMAIL_NOT_SENT, EMAIL_BAD_FORMAT, EMAIL_UNREACHABLE, EMAIL_SENT = 0, 1, 2, 3
KIND_NOTIFY = "notify"
_BAD_ADDRESS_CODES = (501, 553)  # RFC 5321: syntax error in parameters / mailbox name not allowed
_DUE_BATCH = 50  # messages one poll reads; the next poll takes the rest


@dataclass(frozen=True)
class Outgoing:
    """A message to queue. ``task_id``/``worker_id`` tie a notify mail to a task's member."""

    recipient: str
    subject: str
    body: str
    task_id: str | None = None
    worker_id: str | None = None


class MailError(Exception):
    """A failed try; ``email_status`` is what it means for the recipient if it is final."""

    email_status = EMAIL_UNREACHABLE


class TransientMailError(MailError):
    """Try again later (no connection, a timeout, a 4xx answer)."""


class PermanentMailError(MailError):
    """The server refused the message for good (5xx)."""

    def __init__(self, text: str, *, bad_address: bool = False) -> None:
        super().__init__(text)
        if bad_address:
            self.email_status = EMAIL_BAD_FORMAT


Transport = Callable[[EmailMessage], None]


def smtp_transport(settings: Settings) -> Transport:
    """Send one message with :mod:`smtplib` to the configured server, raising
    :class:`TransientMailError` or :class:`PermanentMailError`. The password goes to the
    server only; no error text carries it."""
    host = settings.smtp_host or ""

    def send(message: EmailMessage) -> None:
        timeout = settings.smtp_timeout_seconds
        try:
            client: smtplib.SMTP
            if settings.smtp_security == "ssl":
                context = ssl.create_default_context()
                client = smtplib.SMTP_SSL(host, settings.smtp_port, timeout=timeout, context=context)
            else:
                client = smtplib.SMTP(host, settings.smtp_port, timeout=timeout)
            with client:
                if settings.smtp_security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if settings.smtp_username:
                    client.login(settings.smtp_username, settings.smtp_password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            if codes and all(code >= 500 for code in codes):
                bad = all(code in _BAD_ADDRESS_CODES for code in codes)
                raise PermanentMailError(_refusal(exc.recipients), bad_address=bad) from None
            raise TransientMailError(_refusal(exc.recipients)) from None
        except smtplib.SMTPAuthenticationError as exc:
            # A wrong login is the administrator's to fix: retried, so fixing it in time helps.
            raise TransientMailError(f"SMTP login refused: {exc.smtp_code}") from None
        except smtplib.SMTPResponseException as exc:
            text = f"{exc.smtp_code} {_decode(exc.smtp_error)}"
            if exc.smtp_code >= 500:
                raise PermanentMailError(text) from None
            raise TransientMailError(text) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TransientMailError(f"{type(exc).__name__}: {exc}") from None

    return send


def _decode(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _refusal(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{code} {_decode(text)}" for code, text in recipients.values())


def message_summary(row: OutboxMessage) -> dict[str, Any]:
    """A message as ``labelarts outbox list`` shows it (no body)."""
    return {
        "id": row.id,
        "project_id": row.project_id,
        "kind": row.kind,
        "recipient": row.recipient,
        "subject": row.subject,
        "state": row.state,
        "email_status": row.email_status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "task_id": row.task_id,
        "worker_id": row.worker_id,
        "create_time": row.create_time,
        "sent_time": row.sent_time,
    }


class OutboxService:
    def __init__(self, db: Database, settings: Settings, *, transport: Transport | None = None) -> None:
        self._db = db
        self._settings = settings
        self._transport = transport or (smtp_transport(settings) if settings.smtp_host else None)
        self._queued_hooks: list[Callable[[], None]] = []

    @property
    def sending(self) -> bool:
        """Whether messages are sent (SMTP configured) or wait in the outbox."""
        return self._transport is not None

    def on_queued(self, hook: Callable[[], None]) -> None:
        """``hook()`` runs after a unit of work that queued messages commits (wakes a sender)."""
        self._queued_hooks.append(hook)

    # --- queueing ----------------------------------------------------------------------
    def enqueue(
        self, session: Session, project_id: str, kind: str, messages: Sequence[Outgoing]
    ) -> list[OutboxMessage]:
        """Rows for ``messages`` in the caller's unit of work, due at once."""
        created = now_ms()
        rows = []
        for message in messages:
            row = OutboxMessage(
                id=new_hex_id(),
                project_id=project_id,
                kind=kind,
                recipient=message.recipient,
                subject=message.subject[:256],
                body=message.body,
                task_id=message.task_id,
                worker_id=message.worker_id,
                state=QUEUED,
                email_status=EMAIL_NOT_SENT,
                attempts=0,
                last_error=None,
                next_attempt_at=created,
                create_time=created,
            )
            session.add(row)
            rows.append(row)
        if rows and self._queued_hooks:

            def wake(_session: Session) -> None:
                for hook in self._queued_hooks:
                    hook()

            event.listen(session, "after_commit", wake, once=True)
        return rows

    # --- reading -------------------------------------------------------------------------
    def messages(
        self, *, state: str | None = None, project_id: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Messages oldest first (``state``/``project_id`` None: all), at most ``limit``."""
        with self._db.session() as session:
            rows = session.execute(
                self._select(state, project_id)
                .order_by(OutboxMessage.create_time, OutboxMessage.id)
                .limit(limit)
            ).scalars()
            return [message_summary(row) for row in rows]

    def export(
        self, folder: Path, *, state: str | None = QUEUED, project_id: str | None = None
    ) -> list[Path]:
        """Write the messages as ``folder/<id>.eml`` (RFC 5322); the paths written."""
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        with self._db.session() as session:
            query = self._select(state, project_id).order_by(OutboxMessage.create_time, OutboxMessage.id)
            for row in session.execute(query).scalars():
                path = folder / f"{row.id}.eml"
                path.write_bytes(self.compose(row).as_bytes())
                written.append(path)
        return written

    @staticmethod
    def latest_notify(session: Session, task_id: str, worker_id: str) -> tuple[int, int | None]:
        """``(email_status, last_notify_time)`` of a task member's latest notify mail, ``(0,
        None)`` without one: the WorkerTask fields of the task side."""
        row = session.execute(
            select(OutboxMessage.email_status, OutboxMessage.sent_time, OutboxMessage.create_time)
            .where(OutboxMessage.task_id == task_id, OutboxMessage.worker_id == worker_id)
            .order_by(OutboxMessage.create_time.desc(), OutboxMessage.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return EMAIL_NOT_SENT, None
        return int(row[0]), int(row[1] or row[2])

    @staticmethod
    def last_queued_time(session: Session, task_id: str, recipient: str) -> int | None:
        """When the latest mail about ``task_id`` to ``recipient`` was queued (rate limit)."""
        value = session.execute(
            select(OutboxMessage.create_time)
            .where(OutboxMessage.task_id == task_id, OutboxMessage.recipient == recipient)
            .order_by(OutboxMessage.create_time.desc())
            .limit(1)
        ).scalar_one_or_none()
        return None if value is None else int(value)

    def mark_sent(self, message_id: str) -> None:
        """An administrator forwarded a queued message by hand (``labelarts outbox mark-sent``)."""
        with self._db.session(write=True) as session:
            row = session.get(OutboxMessage, message_id) if len(message_id) <= 32 else None
            if row is None:
                raise NotFoundError(f"Message {message_id} does not exist.")
            if row.state != QUEUED:
                raise NotFoundError(f"Message {message_id} is not queued (it is {row.state}).")
            row.attempts += 1
            self._sent(session, row)

    # --- sending -------------------------------------------------------------------------
    def deliver_due(self, stop: threading.Event | None = None) -> tuple[int, int]:
        """Try the due queued messages once each (up to a batch; until ``stop`` is set):
        ``(sent, failed for good)``. What the sender runs at every poll; nothing without SMTP."""
        if self._transport is None:
            return 0, 0
        with self._db.session() as session:
            due = list(
                session.execute(
                    select(OutboxMessage.id)
                    .where(OutboxMessage.state == QUEUED, OutboxMessage.next_attempt_at <= now_ms())
                    .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                    .limit(_DUE_BATCH)
                ).scalars()
            )
        outcomes = []
        for message_id in due:
            if stop is not None and stop.is_set():
                break
            outcomes.append(self._attempt(message_id))
        return outcomes.count(SENT), outcomes.count(FAILED)

    def _attempt(self, message_id: str) -> str | None:
        """One try at one message: SENT, FAILED (for good), QUEUED (retried later), or None
        when another sender holds it."""
        assert self._transport is not None
        now = now_ms()
        # Longer than a try can take (connect, then each command under the timeout).
        hold_ms = int(self._settings.smtp_timeout_seconds * 4 * 1000) + 1000
        with self._db.session(write=True) as session:
            claimed = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message_id,
                    OutboxMessage.state == QUEUED,
                    OutboxMessage.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + hold_ms)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return None
            row = session.get(OutboxMessage, message_id)
            assert row is not None
            message = self.compose(row)
        try:
            self._transport(message)
        except MailError as exc:
            return self._failed(message_id, exc)
        with self._db.session(write=True) as session:
            row = session.get(OutboxMessage, message_id)
            if row is None:
                return SENT
            row.attempts += 1
            self._sent(session, row)
        log.info("mail %s sent", message_id)
        return SENT

    def _failed(self, message_id: str, exc: MailError) -> str:
        with self._db.session(write=True) as session:
            row = session.get(OutboxMessage, message_id)
            if row is None:
                return FAILED
            row.attempts += 1
            row.last_error = str(exc)[:2000]
            if isinstance(exc, PermanentMailError) or row.attempts >= self._settings.smtp_max_attempts:
                row.state = FAILED
                row.email_status = exc.email_status
                log.warning("mail %s failed after %d tries: %s", row.id, row.attempts, exc)
                return FAILED
            delay_ms = int(self._settings.smtp_retry_seconds * 1000 * 2 ** (row.attempts - 1))
            row.next_attempt_at = now_ms() + delay_ms
            log.info("mail %s deferred (%s); next try in %d ms", row.id, exc, delay_ms)
            return QUEUED

    @staticmethod
    def _sent(session: Session, row: OutboxMessage) -> None:
        row.state = SENT
        row.email_status = EMAIL_SENT
        row.sent_time = now_ms()
        row.last_error = None
        if row.worker_id is not None:
            session.execute(
                update(Worker)
                .where(Worker.id == row.worker_id, Worker.status == STATUS_NOT_INVITED)
                .values(status=STATUS_INVITED, update_time=now_ms())
                .execution_options(synchronize_session=False)
            )

    def compose(self, row: OutboxMessage) -> EmailMessage:
        """The message as it is sent (and exported)."""
        message = EmailMessage()
        message["From"] = self._settings.smtp_from
        message["To"] = row.recipient
        message["Subject"] = row.subject
        message["Date"] = formatdate(row.create_time / 1000, usegmt=True)
        message["Message-ID"] = make_msgid(idstring=row.id, domain="labelarts.invalid")
        message.set_content(row.body)
        return message

    @staticmethod
    def _select(state: str | None, project_id: str | None) -> Any:
        query = select(OutboxMessage)
        if state is not None:
            query = query.where(OutboxMessage.state == state)
        if project_id is not None:
            query = query.where(OutboxMessage.project_id == project_id)
        return query


class MailSender:
    """Sends due messages on a thread: every ``poll_seconds``, and at once when woken (a
    message was queued in this process). Runs beside each task worker (``Services.start_worker``)
    when SMTP is configured."""

    def __init__(self, outbox: OutboxService, *, poll_seconds: float = 1.0) -> None:
        self._outbox = outbox
        self._poll = poll_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MailSender:
        self._thread = threading.Thread(target=self._run, name="labelarts-mail", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self._outbox.deliver_due(self._stop)
            except Exception:  # a database hiccup must not end the sender; the next poll retries
                log.exception("mail sender: a poll failed")
            self._wake.wait(self._poll)
