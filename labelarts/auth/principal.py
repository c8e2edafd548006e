"""Who is calling."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    user_id: str
    user_name: str
    project_id: str
    method: str  # "aksk" or "token"
