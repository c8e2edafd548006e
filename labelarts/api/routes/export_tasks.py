"""Export tasks: create, list, status (ModelArts "Creating a Dataset Export Task" and friends),
and stop (a LabelArts extra, docs/export.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from labelarts.api.deps import PrincipalDep, ServicesDep
from labelarts.schemas.exports import CreateExportTaskRequest

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}/export-tasks", tags=["export"])


@router.post("")
def create_export_task(
    project_id: str,
    dataset_id: str,
    body: CreateExportTaskRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, str]:
    """200 with ``task_id``; the export runs in the background (poll the task)."""
    return {"task_id": services.exports.create(principal.project_id, dataset_id, body)}


@router.get("")
def list_export_tasks(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    export_type: Annotated[int | None, Query(ge=0, le=3)] = None,
) -> dict[str, Any]:
    tasks, total = services.exports.list(
        principal.project_id, dataset_id, offset=offset, limit=limit, export_type=export_type
    )
    return {"total_count": total, "export_tasks": tasks}


@router.get("/{task_id}")
def describe_export_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.exports.get(principal.project_id, dataset_id, task_id)


@router.post("/{task_id}/stop", status_code=204)
def stop_export_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """204: the export stops at its next progress report and leaves no output behind."""
    services.exports.stop(principal.project_id, dataset_id, task_id)
    return Response(status_code=204)
