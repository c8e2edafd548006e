"""Sample edits: add in batches, delete in batches, update labels in batches; search conditions."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}/data-annotations", tags=["samples"])
