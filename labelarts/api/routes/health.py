"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from labelarts import __version__
from labelarts.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health(services: ServicesDep) -> dict[str, str]:
    """200 when the database answers."""
    with services.db.reading(snapshot=False) as connection:  # no ORM session, no transaction
        connection.execute(text("SELECT 1"))
    return {"status": "ok", "version": __version__}
