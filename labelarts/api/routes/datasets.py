"""Datasets: list, create, detail, modify, delete, statistics (ModelArts group A)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from labelarts.api.deps import PrincipalDep, ServicesDep
from labelarts.schemas.datasets import CreateDatasetRequest, UpdateDatasetRequest
from labelarts.services.datasets import DatasetListQuery

router = APIRouter(prefix="/v2/{project_id}/datasets", tags=["datasets"])

Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Page number, from 0.")]
INT32_MAX = 2**31 - 1  # integer columns: a larger filter value would overflow in the database
NO_NUL = r"^[^\x00]*$"


@router.get("")
def list_datasets(
    project_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Limit = 10,
    offset: Offset = 0,
    order: Literal["asc", "desc"] = "desc",
    sort_by: Literal["create_time", "dataset_name"] = "create_time",
    dataset_type: Annotated[int | None, Query(ge=0, le=INT32_MAX)] = None,
    search_content: Annotated[str | None, Query(max_length=256, pattern=NO_NUL)] = None,
    with_labels: bool = False,
    support_export: bool = False,
    workspace_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
    check_running_task: bool = False,
    contain_versions: bool | None = None,
    file_preview: bool = False,
    running_task_type: int | None = None,
    train_evaluate_ratio: Annotated[str | None, Query(max_length=64)] = None,
    version_format: int | None = None,
    dataset_version: Literal["v1", "v2", "all"] | None = None,
) -> dict[str, Any]:
    """``offset`` is a page number; ``total_number`` counts every matching dataset."""
    datasets, total = services.datasets.list(
        principal.project_id,
        DatasetListQuery(
            offset=offset,
            limit=limit,
            order=order,
            sort_by=sort_by,
            dataset_type=dataset_type,
            search_content=search_content,
            with_labels=with_labels,
            support_export=support_export,
            workspace_id=workspace_id,
        ),
    )
    return {"datasets": datasets, "total_number": total}


@router.post("", status_code=201)
def create_dataset(
    project_id: str, body: CreateDatasetRequest, principal: PrincipalDep, services: ServicesDep
) -> JSONResponse:
    """201 with ``dataset_id`` and the ``import_task_id`` of the initial import."""
    dataset_id, task_id = services.datasets.create(principal.project_id, body)
    return JSONResponse({"dataset_id": dataset_id, "import_task_id": task_id}, status_code=201)


@router.get("/{dataset_id}")
def describe_dataset(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    check_running_task: bool = False,
    running_task_type: int | None = None,
) -> dict[str, Any]:
    return services.datasets.describe(principal.project_id, dataset_id)


@router.put("/{dataset_id}")
def update_dataset(
    project_id: str,
    dataset_id: str,
    body: UpdateDatasetRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    services.datasets.update(principal.project_id, dataset_id, body)
    return {"dataset_id": dataset_id}


@router.delete("/{dataset_id}", status_code=204)
def delete_dataset(
    project_id: str, dataset_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    services.datasets.delete(principal.project_id, dataset_id)
    return Response(status_code=204)


@router.get("/{dataset_id}/data-annotations/stats")
def dataset_statistics(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    email: Annotated[str | None, Query(max_length=256)] = None,
    locale: Annotated[str | None, Query(max_length=16)] = None,
    sample_state: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    return services.datasets.statistics(principal.project_id, dataset_id)
