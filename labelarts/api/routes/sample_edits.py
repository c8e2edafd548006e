"""Sample edits: add in batches, delete in batches, update labels in batches; search conditions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from labelarts.api.deps import PrincipalDep, ServicesDep
from labelarts.schemas.samples import DeleteSamplesRequest, UpdateSamplesRequest, UploadSamplesRequest

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}/data-annotations", tags=["samples"])


@router.post("/samples")
def add_samples(
    project_id: str,
    dataset_id: str,
    body: UploadSamplesRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Add samples (base64 ``data``) in one transaction; ``results[i].info`` is the sample id."""
    results = services.sample_edits.add_samples(
        principal.project_id, dataset_id, body, labeler=principal.user_name
    )
    return {"success": True, "results": results}


@router.post("/samples/delete")
def delete_samples(
    project_id: str,
    dataset_id: str,
    body: DeleteSamplesRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Delete samples (all or none); ``delete_source`` also deletes their files."""
    services.sample_edits.delete_samples(principal.project_id, dataset_id, body)
    return {"success": True}


@router.put("/samples")
def update_samples(
    project_id: str,
    dataset_id: str,
    body: UpdateSamplesRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """Replace sample labels (absent or empty: unlabeled) and merge metadata; confirms auto labels."""
    services.sample_edits.update_samples(principal.project_id, dataset_id, body, labeler=principal.user_name)
    return {"success": True}


@router.get("/search-condition")
def search_condition(
    project_id: str, dataset_id: str, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.sample_edits.search_condition(principal.project_id, dataset_id)
