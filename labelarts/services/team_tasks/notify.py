"""Notify (ModelArts SendEmails): mail members of a team task about their work, through the
outbox (sent over SMTP when it is configured, else kept for ``labelarts outbox``).

Who may call it: the owner, or the team administrator named as the task's ``agency``; anyone
else in the task gets 403 ``ModelArts.4600``, anyone outside it 404. The answer is always 200
with one result per address, in order (docs/team-labeling.md, "Notify"):

- not an address: ``ModelArts.0104``;
- not an active member of the task: ``ModelArts.4604``;
- mailed about this task less than ``interval_seconds`` ago: ``ModelArts.4627``;
- otherwise the mail is queued: ``{"success": true}``; a member without an account in the
  project gets an invitation link in it (``/ui/invitation#<token>``). The member's ``email_status`` and
  ``last_notify_time`` in ``GET .../workforces/worker-tasks`` follow the mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from labelarts.auth.principal import Principal
from labelarts.clock import now_ms
from labelarts.errors import RoleForbiddenError, ValidationFailedError
from labelarts.services.members import MemberService, normalize_email
from labelarts.services.outbox import OutboxService, Outgoing
from labelarts.services.team_tasks.service import TeamTaskService
from labelarts.storage.db import Database
from labelarts.storage.db.models import Dataset, WorkforceTask, WorkforceTaskMember

ROLE_NAMES = {0: "labeler", 1: "reviewer", 2: "team administrator"}


class TaskNotifier:
    def __init__(
        self,
        db: Database,
        outbox: OutboxService,
        team_tasks: TeamTaskService,
        members: MemberService,
        *,
        interval_seconds: int,
        public_url: str | None,
    ) -> None:
        self._db = db
        self._outbox = outbox
        self._team_tasks = team_tasks
        self._members = members
        self._interval_ms = interval_seconds * 1000
        self._public_url = public_url

    def notify(
        self, principal: Principal, dataset_id: str, task_id: str, emails: Sequence[str] | None
    ) -> list[dict[str, Any]]:
        with self._db.session(write=True) as session:
            task, access = self._team_tasks.task_for(session, principal, dataset_id, task_id)
            if not access.owner and task.agency != (principal.email or "").lower():
                raise RoleForbiddenError()
            if not emails:
                raise ValidationFailedError("Invalid parameter. emails: at least one address is required.")
            members = {
                m.email: m
                for m in session.execute(
                    select(WorkforceTaskMember).where(
                        WorkforceTaskMember.task_id == task.id, WorkforceTaskMember.active.is_(True)
                    )
                ).scalars()
            }
            open_work = self._team_tasks.open_work(session, task.id)
            dataset = session.get(Dataset, task.dataset_id)
            now = now_ms()
            results: list[dict[str, Any]] = []
            for raw in emails:
                try:
                    address = normalize_email(raw)
                except ValidationFailedError:
                    results.append(_failed("ModelArts.0104", f"Invalid email address: {raw!r}."))
                    continue
                member = members.get(address)
                if member is None:
                    results.append(_failed("ModelArts.4604", f"{address} is not a member of this task."))
                    continue
                last = self._outbox.last_queued_time(session, task.id, address)
                if last is not None and now - last < self._interval_ms:
                    results.append(_failed("ModelArts.4627", "Request notify too frequently."))
                    continue
                name = dataset.name if dataset is not None else task.dataset_id
                invitation = None
                if not MemberService.is_member(session, principal.project_id, address):
                    invitation = self._members.invite(principal.project_id, address, session=session)
                message = self._message(task, name, member, open_work.get(member.worker_id, 0), invitation)
                self._outbox.enqueue(session, principal.project_id, "notify", [message])
                results.append({"success": True})
            return results

    def _message(
        self,
        task: WorkforceTask,
        dataset_name: str,
        member: WorkforceTaskMember,
        open_work: int,
        invitation: str | None,
    ) -> Outgoing:
        lines = [
            "Hello,",
            "",
            f"you take part as {ROLE_NAMES.get(member.role, 'member')} in the team labeling task "
            f'"{task.name}" of the dataset "{dataset_name}".',
        ]
        if member.role == 0:
            lines += ["", f"Samples waiting for you: {open_work}."]
        if self._public_url:
            lines += ["", f"Open it at {self._public_url}/ui/"]
        if invitation is not None:
            # The token travels in the fragment: it stays out of server and proxy logs.
            lines += [
                "",
                "You have no LabelArts account in this project yet. Choose your password here (the",
                "link works once, for you only, and expires):",
                f"{self._public_url or ''}/ui/invitation#{invitation}",
            ]
        lines += ["", "-- LabelArts"]
        return Outgoing(
            recipient=member.email,
            subject=f"LabelArts: team labeling task {task.name}",
            body="\n".join(lines) + "\n",
            task_id=task.id,
            worker_id=member.worker_id,
        )


def _failed(code: str, message: str) -> dict[str, Any]:
    return {"success": False, "error_code": code, "error_msg": message}


def notified(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer's body: ``success`` is true when every address was queued."""
    return {"success": all(r["success"] for r in results), "results": results}
