"""Pre-signed sample sources (``source`` URLs), with optional OBS-style image processing."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/files", tags=["files"])
