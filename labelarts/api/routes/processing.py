"""Data-processing tasks (ModelArts group E, 12 endpoints): tasks, the algorithm list, task
versions, and a version's results with pre-signed original and new files."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from labelarts.api.deps import PrincipalDep, ServicesDep
from labelarts.api.links import public_origin
from labelarts.schemas.processing import (
    CreateProcessorTaskRequest,
    CreateProcessorTaskVersionRequest,
    UpdateProcessorTaskRequest,
)

router = APIRouter(prefix="/v2/{project_id}/processor-tasks", tags=["processing"])
NoNul = r"^[^\x00]*$"
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Page number, from 0.")]
Order = Annotated[Literal["asc", "desc"], Query()]


@router.get("")
def list_processor_tasks(
    project_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    sort_by: Annotated[Literal["create_time", "name", "duration_seconds"], Query()] = "create_time",
    order: Order = "desc",
    source_type: Annotated[Literal["OBS", "TASK", "DATASET", "CUSTOM"] | None, Query()] = None,
    source: Annotated[str | None, Query(max_length=4096, pattern=NoNul)] = None,
    status: Annotated[int | None, Query(ge=0, le=4)] = None,
    task_name: Annotated[str | None, Query(max_length=64, pattern=NoNul)] = None,
    task_type: Annotated[str | None, Query(max_length=64, pattern=NoNul)] = None,
    version_id: Annotated[list[Annotated[str, Query(pattern=NoNul)]] | None, Query(max_length=100)] = None,
    query_current: bool = False,
    return_result: bool = True,
    workspace_id: Annotated[str | None, Query(max_length=64, pattern=NoNul)] = None,
) -> dict[str, Any]:
    """``{count, tasks}``; ``version_id`` repeated or comma-separated."""
    ids = [v for raw in version_id or [] for v in raw.split(",") if v]
    tasks, count = services.processing.list_tasks(
        principal.project_id,
        offset=offset,
        limit=limit,
        sort_by=sort_by,
        order=order,
        source_type=source_type,
        source=source,
        status=status,
        task_name=task_name,
        task_type=task_type,
        version_ids=ids,
        query_current=query_current,
        return_result=return_result,
        workspace_id=workspace_id,
    )
    return {"count": count, "tasks": tasks}


@router.post("")
def create_processor_task(
    project_id: str, body: CreateProcessorTaskRequest, principal: PrincipalDep, services: ServicesDep
) -> dict[str, str]:
    """200 with ``task_id``; a feature analysis starts at once, a processing task's first
    version with ``create_version``."""
    return {"task_id": services.processing.create_task(principal.project_id, body)}


@router.get("/items")
def list_processor_task_items(
    project_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> dict[str, Any]:
    """``{total, items}``: the processing templates."""
    return services.processing.items(offset, limit)


@router.get("/{task_id}")
def describe_processor_task(
    project_id: str, task_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.processing.get_task(principal.project_id, task_id)


@router.put("/{task_id}")
def update_processor_task(
    project_id: str,
    task_id: str,
    body: UpdateProcessorTaskRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """200 ``{}``; only ``description`` changes."""
    services.processing.update_task(principal.project_id, task_id, body.description)
    return {}


@router.delete("/{task_id}")
def delete_processor_task(
    project_id: str, task_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """200 ``{}`` (as the reference answers); 400 ModelArts.4394 while a version runs."""
    services.processing.delete_task(principal.project_id, task_id)
    return {}


@router.get("/{task_id}/versions")
def list_processor_task_versions(
    project_id: str,
    task_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    sort_by: Annotated[Literal["create_time", "version_name"], Query()] = "create_time",
    order: Order = "desc",
) -> dict[str, Any]:
    versions, count = services.processing.list_versions(
        principal.project_id, task_id, offset=offset, limit=limit, sort_by=sort_by, order=order
    )
    return {"count": count, "versions": versions}


@router.post("/{task_id}/versions")
def create_processor_task_version(
    project_id: str,
    task_id: str,
    body: CreateProcessorTaskVersionRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, str]:
    """200 with ``version_id``; the run starts in the background."""
    return {"version_id": services.processing.create_version(principal.project_id, task_id, body)}


@router.get("/{task_id}/versions/{version_id}")
def describe_processor_task_version(
    project_id: str, task_id: str, version_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.processing.get_version(principal.project_id, task_id, version_id)


@router.delete("/{task_id}/versions/{version_id}", status_code=204)
def delete_processor_task_version(
    project_id: str, task_id: str, version_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    services.processing.delete_version(principal.project_id, task_id, version_id)
    return Response(status_code=204)


@router.get("/{task_id}/versions/{version_id}/results")
def list_processor_task_version_results(
    project_id: str,
    task_id: str,
    version_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    result_property: Annotated[Literal["-1", "0", "1", "2", "3"] | None, Query()] = None,
    process_parameter: Annotated[str | None, Query(max_length=256, pattern=NoNul)] = None,
) -> dict[str, Any]:
    """``{count, has_more, results}``: inputs first, in input order, then added samples."""
    return services.processing.list_results(
        principal.project_id,
        task_id,
        version_id,
        result_property=int(result_property) if result_property is not None else None,
        offset=offset,
        limit=limit,
        process_parameter=process_parameter,
        origin=public_origin(request),
    )


@router.post("/{task_id}/versions/{version_id}/stop")
def stop_processor_task_version(
    project_id: str, task_id: str, version_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """200 ``{}``; 400 ModelArts.4396 if the version has already ended."""
    services.processing.stop_version(principal.project_id, task_id, version_id)
    return {}
