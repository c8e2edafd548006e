"""Sample list and detail."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}/data-annotations/samples", tags=["samples"])
