"""Dataset labels (ModelArts group A, six endpoints)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from labelarts.api.deps import PrincipalDep, ServicesDep
from labelarts.schemas.common import LabelProperty, LabelType
from labelarts.schemas.labels import LabelsRequest
from labelarts.services.labels import DeletePolicy

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}/data-annotations/labels", tags=["labels"])

SUCCESS: dict[str, Any] = {"success": True}
POLICIES = {0: DeletePolicy(False, False), 1: DeletePolicy(True, False), 2: DeletePolicy(True, True)}


@router.get("")
def list_labels(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    version_id: Annotated[str | None, Query(max_length=64)] = None,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 100_000,
) -> dict[str, Any]:
    labels, total = services.labels.list_labels(principal.project_id, dataset_id, offset=offset, limit=limit)
    return {"labels": labels, "total_number": total}


@router.post("")
def create_labels(
    project_id: str, dataset_id: str, body: LabelsRequest, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    services.labels.create_labels(principal.project_id, dataset_id, body.labels or [])
    return SUCCESS


@router.put("")
def update_labels(
    project_id: str, dataset_id: str, body: LabelsRequest, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Modify labels in batches; ``property["@modelarts:rename_to"]`` renames a label."""
    services.labels.update_labels(principal.project_id, dataset_id, body.labels or [])
    return SUCCESS


@router.post("/delete")
def delete_labels(
    project_id: str,
    dataset_id: str,
    body: LabelsRequest,
    principal: PrincipalDep,
    services: ServicesDep,
    # An int with bounds, not Literal[0, 1, 2]: a query string never matches an int Literal.
    delete_policy: Annotated[int, Query(ge=0, le=2)] = 0,
) -> dict[str, Any]:
    """0: the labels only; 1: also samples carrying only them; 2: also their source files."""
    services.labels.delete_labels(
        principal.project_id, dataset_id, body.labels or [], POLICIES[delete_policy]
    )
    return SUCCESS


@router.put("/{label_name}", status_code=204)
def update_label(
    project_id: str,
    dataset_id: str,
    label_name: str,
    principal: PrincipalDep,
    services: ServicesDep,
    body: Annotated[LabelProperty, Body()],
    label_type: Annotated[LabelType | None, Query()] = None,
) -> Response:
    """The body is the label's property map, e.g. ``{"@modelarts:color": "#93c47d"}``."""
    services.labels.update_label(principal.project_id, dataset_id, label_name, body, label_type=label_type)
    return Response(status_code=204)


@router.delete("/{label_name}", status_code=204)
def delete_label_and_samples(
    project_id: str,
    dataset_id: str,
    label_name: str,
    principal: PrincipalDep,
    services: ServicesDep,
    label_type: Annotated[LabelType | None, Query()] = None,
    delete_source: bool = False,
) -> Response:
    """Delete a label and the samples that carry only that label."""
    services.labels.delete_label_and_samples(
        principal.project_id,
        dataset_id,
        label_name,
        label_type=label_type,
        delete_source=delete_source,
    )
    return Response(status_code=204)
