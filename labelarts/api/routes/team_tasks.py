"""Team labeling tasks (ENDPOINTS.md group D): workforce tasks, their samples, review,
acceptance, statistics, and a member's own task list. Members reach these routes too; the
service decides what their role allows (docs/team-labeling.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from labelarts.api.deps import MemberPrincipalDep, ServicesDep
from labelarts.api.routes.samples import Conditions, Offset, _source_maker
from labelarts.schemas.team_tasks import (
    AcceptSamplesRequest,
    CreateWorkforceTaskRequest,
    NotifyRequest,
    ReviewSamplesRequest,
    SetGoldSamplesRequest,
    StartSamplingRequest,
    StartWorkforceTaskRequest,
    UpdateSamplingRequest,
    UpdateTeamSamplesRequest,
    UpdateWorkforceTaskRequest,
)
from labelarts.services.team_tasks.notify import notified

router = APIRouter(tags=["team labeling"])
TASKS = "/v2/{project_id}/datasets/{dataset_id}/workforce-tasks"
TASK = TASKS + "/{workforce_task_id}"
Text = Annotated[str | None, Query(max_length=1024)]
Locale = Annotated[str | None, Query(max_length=32)]


@router.get("/v2/{project_id}/workforces/worker-tasks")
def list_worker_tasks(
    project_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    search_content: Text = None,
    sort_by: Literal["create_time", "task_name"] = "create_time",
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    """ListWorkerTasks: the caller's own rows, one per task that names them."""
    rows, count = services.team_tasks.worker_tasks(
        principal, offset=offset, limit=limit, search_content=search_content, sort_by=sort_by, order=order
    )
    return {"count": count, "worker_tasks": rows}


@router.post(TASKS)
def create_workforce_task(
    project_id: str,
    dataset_id: str,
    body: CreateWorkforceTaskRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    return {"task_id": services.team_tasks.create(principal, dataset_id, body)}


@router.get(TASKS)
def list_workforce_tasks(
    project_id: str,
    dataset_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> dict[str, Any]:
    tasks, count = services.team_tasks.list_tasks(principal, dataset_id, offset=offset, limit=limit)
    return {"count": count, "tasks": tasks}


@router.get(TASK)
def describe_workforce_task(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    label_stats: bool = False,
    sample_stats: bool = True,
    workforce_stats: bool = True,
) -> dict[str, Any]:
    return services.team_tasks.get(
        principal,
        dataset_id,
        workforce_task_id,
        label_stats=label_stats,
        sample_stats=sample_stats,
        workforce_stats=workforce_stats,
    )


@router.post(TASK)
def start_workforce_task(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    body: StartWorkforceTaskRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    services.team_tasks.start(principal, dataset_id, workforce_task_id, body)
    return {}


@router.put(TASK)
def update_workforce_task(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    body: UpdateWorkforceTaskRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    services.team_tasks.update(principal, dataset_id, workforce_task_id, body)
    return {}


@router.delete(TASK, status_code=204)
def delete_workforce_task(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> Response:
    services.team_tasks.delete(principal, dataset_id, workforce_task_id)
    return Response(status_code=204)


@router.get(TASK + "/data-annotations/samples")
def list_workforce_task_samples(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    request: Request,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    sample_state: Annotated[str | None, Query(max_length=64)] = None,
    label_name: Text = None,
    label_type: Annotated[int | None, Query(ge=0, le=1000)] = None,
    search_conditions: Conditions = None,
    process_parameter: Annotated[str | None, Query(max_length=256)] = None,
    locale: Locale = None,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    samples, count = services.team_tasks.list_samples(
        principal,
        dataset_id,
        workforce_task_id,
        sample_state=sample_state,
        label_name=label_name,
        label_type=label_type,
        search_conditions=search_conditions,
        offset=offset,
        limit=limit,
        source_url=_source_maker(services, request, principal.project_id, process_parameter),
    )
    return {"sample_count": count, "samples": samples}


@router.get(TASK + "/data-annotations/samples/{sample_id}")
def describe_workforce_task_sample(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    sample_id: str,
    request: Request,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    worker_id: Annotated[str | None, Query(max_length=64)] = None,
    sample_state: Annotated[str | None, Query(max_length=64)] = None,
    locale: Locale = None,
) -> dict[str, Any]:
    return services.team_tasks.describe_sample(
        principal,
        dataset_id,
        workforce_task_id,
        sample_id,
        worker_id=worker_id,
        sample_state=sample_state,
        source_url=_source_maker(services, request, principal.project_id, None),
    )


@router.put(TASK + "/data-annotations/samples")
def update_workforce_task_samples(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    body: UpdateTeamSamplesRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    return services.team_tasks.update_samples(principal, dataset_id, workforce_task_id, body)


@router.post(TASK + "/data-annotations/review")
def review_samples(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    body: ReviewSamplesRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    services.team_tasks.review(principal, dataset_id, workforce_task_id, body)
    return {}


@router.post(TASK + "/acceptance")
def start_workforce_sampling_task(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    body: StartSamplingRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    return {"task_id": services.team_tasks.start_sampling(principal, dataset_id, workforce_task_id, body)}


@router.post(TASK + "/acceptance/batch-comment")
def accept_samples(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    body: AcceptSamplesRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    services.team_tasks.accept_samples(principal, dataset_id, workforce_task_id, body)
    return {}


@router.get(TASK + "/acceptance/report")
def get_workforce_sampling_task(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    checking_task_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    return services.team_tasks.report(principal, dataset_id, workforce_task_id, checking_task_id)


@router.put(TASK + "/acceptance/status")
def update_workforce_sampling_task(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    body: UpdateSamplingRequest,
    request: Request,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    locale: Locale = None,
) -> dict[str, Any]:
    return services.team_tasks.close(
        principal,
        dataset_id,
        workforce_task_id,
        body,
        source_url=_source_maker(services, request, principal.project_id, None),
    )


@router.get(TASK + "/data-annotations/stats")
def list_workforce_task_stats(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
    sample_state: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    return services.team_tasks.stats(principal, dataset_id, workforce_task_id, sample_state=sample_state)


@router.get(TASK + "/metrics")
def get_workforce_task_metrics(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    return services.team_tasks.metrics(principal, dataset_id, workforce_task_id)


@router.post(TASK + "/notify")
def send_emails(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    body: NotifyRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    return notified(services.notifier.notify(principal, dataset_id, workforce_task_id, body.emails))


# -- LabelArts extensions (docs/team-labeling.md, "Agreement and gold samples") -----------------


@router.get(TASK + "/agreement")
def get_agreement(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """LabelArts extension: Fleiss' kappa overall and per label, Cohen's kappa per labeler pair,
    and each labeler's accuracy on the gold samples. Owner and team administrators."""
    return services.team_tasks.agreement(principal, dataset_id, workforce_task_id)


@router.put(TASK + "/gold-samples")
def set_gold_samples(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    body: SetGoldSamplesRequest,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """LabelArts extension: mark samples as gold with their known answers. Owner only."""
    return services.team_tasks.set_gold(principal, dataset_id, workforce_task_id, body)


@router.get(TASK + "/gold-samples")
def list_gold_samples(
    project_id: str,
    dataset_id: str,
    workforce_task_id: str,
    principal: MemberPrincipalDep,
    services: ServicesDep,
) -> dict[str, Any]:
    """LabelArts extension: the gold samples, their answers and how the labelers did. Owner only."""
    return services.team_tasks.list_gold(principal, dataset_id, workforce_task_id)
