"""Intelligent tasks (auto labeling): start, list, progress, stop."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from labelarts.api.deps import PrincipalDep, ServicesDep
from labelarts.schemas.tasks import CreateTaskRequest

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}/tasks", tags=["auto labeling"])


@router.post("")
def create_task(
    project_id: str,
    dataset_id: str,
    body: CreateTaskRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, str]:
    """200 with ``task_id``; the task runs in the background (poll ``GET .../tasks/{task_id}``)."""
    return {"task_id": services.autolabel.create(principal.project_id, dataset_id, body)}


@router.get("")
def list_tasks(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    type: Literal["auto-label", "pre-label", "auto-grouping"] | None = None,
    task_name: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
) -> dict[str, Any]:
    tasks, total = services.autolabel.list(
        principal.project_id, dataset_id, offset=offset, limit=limit, task_type=type, task_name=task_name
    )
    return {"tasks": tasks, "total_count": total, "exist_running_deploy_task": False}


@router.get("/{task_id}")
def describe_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.autolabel.get(principal.project_id, dataset_id, task_id)


@router.post("/{task_id}/stop", status_code=204)
def stop_task(
    project_id: str, dataset_id: str, task_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    """204: the task stops at its next progress report; results are never half written."""
    services.autolabel.stop(principal.project_id, dataset_id, task_id)
    return Response(status_code=204)
