"""The model registry (a LabelArts extension, docs/model-registry.md): import, list, show, delete."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from labelarts.api.deps import PrincipalDep, ServicesDep
from labelarts.schemas.models import ImportModelRequest

router = APIRouter(prefix="/v2/{project_id}/models", tags=["models"])


@router.post("")
def import_model(
    project_id: str, body: ImportModelRequest, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """200 with the model; 400 when the file is not an ONNX model of the declared shape."""
    return services.models.create(principal.project_id, body)


@router.get("")
def list_models(
    project_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    model_name: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")] = None,
) -> dict[str, Any]:
    models, total = services.models.list(
        principal.project_id, offset=offset, limit=limit, model_name=model_name
    )
    return {"models": models, "total_count": total}


@router.get("/{model_id}")
def show_model(
    project_id: str, model_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.models.get(principal.project_id, model_id)


@router.delete("/{model_id}", status_code=204)
def delete_model(project_id: str, model_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    services.models.delete(principal.project_id, model_id)
    return Response(status_code=204)
