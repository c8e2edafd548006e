"""Data-source sync (ModelArts "Synchronizing a Dataset" and its status)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from labelarts.api.deps import PrincipalDep, ServicesDep

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}/sync-data", tags=["sync"])


@router.post("")
def sync_data(
    project_id: str, dataset_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, str]:
    """200; the sync runs in the background (poll ``sync-data/status``). The reference answers
    no body; LabelArts answers the task's id (``task_id``)."""
    return {"task_id": services.sync.create(principal.project_id, dataset_id)}


@router.get("/status")
def sync_status(
    project_id: str, dataset_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.sync.status(principal.project_id, dataset_id)
