"""Labeling teams and their members (ModelArts "Creating a Labeling Team" and friends).

Owners call every route; team members reach those on ``MemberPrincipalDep``, where
``services.workforces`` decides by their team role (docs/team-labeling.md).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from labelarts.api.deps import MemberPrincipalDep, PrincipalDep, ServicesDep
from labelarts.auth.principal import Principal
from labelarts.container import Services
from labelarts.schemas.workforces import (
    BatchDeleteWorkersRequest,
    CreateWorkerRequest,
    CreateWorkforceRequest,
    UpdateWorkerRequest,
    UpdateWorkforceRequest,
)
from labelarts.services.team import Membership
from labelarts.services.workforces import ListQuery

router = APIRouter(prefix="/v2/{project_id}/workforces", tags=["workforces"])

Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Page number, from 0.")]
Limit = Annotated[int, Query(ge=1, le=100)]
OrderQ = Annotated[Literal["asc", "desc"], Query()]
WorkerSort = Annotated[Literal["create_time", "email"], Query()]


def _membership(services: Services, principal: Principal) -> Membership:
    return services.team.membership(principal)


# --- workforces -------------------------------------------------------------------------
@router.post("", status_code=201)
def create_workforce(
    project_id: str, body: CreateWorkforceRequest, principal: PrincipalDep, services: ServicesDep
) -> JSONResponse:
    """201 ``{workforce_id}``. Owner only."""
    workforce_id = services.workforces.create_workforce(_membership(services, principal), body)
    return JSONResponse({"workforce_id": workforce_id}, status_code=201)


@router.get("")
def list_workforces(
    project_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    offset: Offset = 0,
    limit: Limit = 10,
    order: OrderQ = "desc",
    sort_by: Annotated[Literal["create_time", "workforce_name"], Query()] = "create_time",
    search_content: Annotated[str | None, Query(max_length=256, pattern=r"^[^\x00]*$")] = None,
    workforce_task_id: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
) -> dict[str, Any]:
    """``{total_number, workforces}``; a member sees the teams they administer."""
    workforces, total = services.workforces.list_workforces(
        _membership(services, principal),
        ListQuery(offset, limit, order, sort_by),
        search_content=search_content,
        workforce_task_id=workforce_task_id,
    )
    return {"total_number": total, "workforces": workforces}


@router.get("/workers")
def list_all_workers(
    project_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    offset: Offset = 0,
    limit: Limit = 10,
    order: OrderQ = "desc",
    sort_by: WorkerSort = "create_time",
    role: Annotated[int | None, Query(ge=0, le=2, description="Absent: every role.")] = None,
) -> dict[str, Any]:
    """``{total_number, workers}`` of every team (a member: the teams they administer)."""
    workers, total = services.workforces.list_workers(
        _membership(services, principal), None, ListQuery(offset, limit, order, sort_by), role=role
    )
    return {"total_number": total, "workers": workers}


@router.get("/{workforce_id}")
def describe_workforce(
    project_id: str, workforce_id: str, principal: MemberPrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.workforces.describe_workforce(_membership(services, principal), workforce_id)


@router.put("/{workforce_id}")
def update_workforce(
    project_id: str,
    workforce_id: str,
    body: UpdateWorkforceRequest,
    principal: PrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    services.workforces.update_workforce(_membership(services, principal), workforce_id, body)
    return {}


@router.delete("/{workforce_id}", status_code=204)
def delete_workforce(
    project_id: str, workforce_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    services.workforces.delete_workforce(_membership(services, principal), workforce_id)
    return Response(status_code=204)


# --- workers ----------------------------------------------------------------------------
@router.post("/{workforce_id}/workers", status_code=201)
def create_workers(
    project_id: str,
    workforce_id: str,
    body: CreateWorkerRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> JSONResponse:
    services.workforces.create_workers(_membership(services, principal), workforce_id, body)
    return JSONResponse({}, status_code=201)


@router.get("/{workforce_id}/workers")
def list_workers(
    project_id: str,
    workforce_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    offset: Offset = 0,
    limit: Limit = 10,
    order: OrderQ = "desc",
    sort_by: WorkerSort = "create_time",
) -> dict[str, Any]:
    workers, total = services.workforces.list_workers(
        _membership(services, principal), workforce_id, ListQuery(offset, limit, order, sort_by)
    )
    return {"total_number": total, "workers": workers}


@router.post("/{workforce_id}/workers/batch-delete")
def batch_delete_workers(
    project_id: str,
    workforce_id: str,
    body: BatchDeleteWorkersRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """``{success, results}``: each id is deleted on its own; ``success`` is true when all were."""
    results = services.workforces.batch_delete_workers(
        _membership(services, principal), workforce_id, body.workers
    )
    return {"success": all(r["success"] for r in results), "results": results}


@router.get("/{workforce_id}/workers/{worker_id}")
def describe_worker(
    project_id: str, workforce_id: str, worker_id: str, principal: MemberPrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    return services.workforces.describe_worker(_membership(services, principal), workforce_id, worker_id)


@router.put("/{workforce_id}/workers/{worker_id}")
def update_worker(
    project_id: str,
    workforce_id: str,
    worker_id: str,
    body: UpdateWorkerRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    services.workforces.update_worker(_membership(services, principal), workforce_id, worker_id, body)
    return {}


@router.delete("/{workforce_id}/workers/{worker_id}", status_code=204)
def delete_worker(
    project_id: str, workforce_id: str, worker_id: str, principal: MemberPrincipalDep, services: ServicesDep
) -> Response:
    services.workforces.delete_worker(_membership(services, principal), workforce_id, worker_id)
    return Response(status_code=204)
