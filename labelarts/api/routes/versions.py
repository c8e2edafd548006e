"""Dataset versions: publish, list, detail, delete (ModelArts "Creating a Dataset Labeling
Version" and friends), and LabelArts' manifest download."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse, StreamingResponse

from labelarts.api.deps import PrincipalDep, ServicesDep
from labelarts.schemas.versions import CreateVersionRequest

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}/versions", tags=["versions"])


@router.post("", status_code=201)
def create_version(
    project_id: str,
    dataset_id: str,
    body: CreateVersionRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> JSONResponse:
    """201 with ``version_id``; publishing runs in the background (the version's ``status`` is
    0 until it is 1, normal, or 4, error)."""
    version_id = services.versions.create(principal.project_id, dataset_id, body)
    return JSONResponse({"version_id": version_id}, status_code=201)


@router.get("")
def list_versions(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    status: Annotated[int | None, Query(ge=0, le=4)] = None,
    train_evaluate_ratio: Annotated[str | None, Query(max_length=64)] = None,
    version_format: Annotated[int | None, Query(ge=0, le=2)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Page number, from 0.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> dict[str, Any]:
    """``{total_number, versions}``, newest first."""
    versions, total = services.versions.list(
        principal.project_id,
        dataset_id,
        status=status,
        train_evaluate_ratio=train_evaluate_ratio,
        version_format=version_format,
        offset=offset,
        limit=limit,
    )
    return {"total_number": total, "versions": versions}


@router.get("/{version_id}")
def describe_version(
    project_id: str, dataset_id: str, version_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.versions.get(principal.project_id, dataset_id, version_id)


@router.get("/{version_id}/manifest")
def download_manifest(
    project_id: str, dataset_id: str, version_id: str, principal: PrincipalDep, services: ServicesDep
) -> StreamingResponse:
    """LabelArts: the version's ModelArts manifest (JSON Lines), streamed."""
    chunks = services.versions.manifest(principal.project_id, dataset_id, version_id)
    return StreamingResponse(chunks, media_type="application/jsonl; charset=utf-8")


@router.delete("/{version_id}", status_code=204)
def delete_version(
    project_id: str, dataset_id: str, version_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    services.versions.delete(principal.project_id, dataset_id, version_id)
    return Response(status_code=204)
