"""Import tasks: create, list and detail (ModelArts "Creating an Import Task" and friends)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from labelarts.api.deps import PrincipalDep, ServicesDep
from labelarts.schemas.imports import CreateImportTaskRequest

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}/import-tasks", tags=["import"])


@router.post("")
def create_import_task(
    project_id: str,
    dataset_id: str,
    body: CreateImportTaskRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, str]:
    """200 with ``task_id``; the import runs in the background (poll the task)."""
    return {"task_id": services.imports.create(principal.project_id, dataset_id, body)}


@router.get("")
def list_import_tasks(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    tasks, total = services.imports.list(principal.project_id, dataset_id, offset=offset, limit=limit)
    return {"import_tasks": tasks, "total_count": total}


@router.get("/{task_id}")
def describe_import_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.imports.get(principal.project_id, dataset_id, task_id)
