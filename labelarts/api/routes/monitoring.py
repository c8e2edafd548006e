"""Dataset monitoring (ModelArts "Querying the Monitoring Data of a Dataset")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from labelarts.api.deps import PrincipalDep, ServicesDep

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}/metrics", tags=["monitoring"])

EpochMs = Annotated[int, Query(ge=0, le=2**63 - 1, description="Epoch milliseconds.")]


@router.get("")
def dataset_metrics(
    project_id: str,
    dataset_id: str,
    principal: PrincipalDep,
    services: ServicesDep,
    start_time: EpochMs,
    end_time: EpochMs,
    workforce_task_id: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
) -> dict[str, Any]:
    """``{"metrics": {series: {epoch ms: value}}}`` between ``start_time`` and ``end_time``."""
    return services.monitoring.metrics(
        principal.project_id,
        dataset_id,
        start_time=start_time,
        end_time=end_time,
        workforce_task_id=workforce_task_id,
    )
