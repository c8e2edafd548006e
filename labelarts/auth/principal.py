"""Who is calling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProjectRole = Literal["owner", "member"]
OWNER: ProjectRole = "owner"
MEMBER: ProjectRole = "member"


@dataclass(frozen=True)
class Principal:
    """An authenticated caller in the project their credential is scoped to.

    ``role`` is their role in that project: ``owner`` (everything in the project, as every
    user had before team labeling) or ``member`` (a team member: only routes that accept
    members, and there only their own work; see ``services.team.TeamAccess``). ``email`` is
    the account's address (members always have one)."""

    user_id: str
    user_name: str
    project_id: str
    method: str  # "aksk" or "token"
    role: ProjectRole
    email: str | None

    @property
    def is_owner(self) -> bool:
        return self.role == OWNER
