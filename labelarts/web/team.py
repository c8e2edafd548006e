"""The team labeling pages (docs/web.md, docs/team-labeling.md): a member's task list, the
labeler's queue, the reviewer's queue, and the owner's team tasks and acceptance page.

Thin handlers over ``services.team_tasks``, the service the team-task API routes call, so a
page can do exactly what the caller's role lets them do through the API and no more: a task,
sample or dataset a member is not in is the service's 404, a call their role does not allow
its 403. The labeling queue reuses the review view's editor (``static/app.js``) and the box
editor (``static/boxes.js``); the verdict queues are ``static/team.js``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from labelarts.errors import LabelArtsError, RoleForbiddenError, SampleNotFoundError, ValidationFailedError
from labelarts.schemas.team_tasks import (
    AcceptSamplesRequest,
    ReviewSamplesRequest,
    StartSamplingRequest,
    UpdateSamplingRequest,
    UpdateTeamSamplesRequest,
)
from labelarts.services.samples.presign import SourceRef
from labelarts.services.team_tasks import states as st
from labelarts.services.team_tasks.service import ADMIN, LABELER, REVIEWER
from labelarts.web.pages import (
    VIEW,
    Page,
    _labels,
    _process,
    _sample_view,
    _validation_text,
    checked_json,
    checked_post,
    first,
    html_errors,
    render,
    services_of,
    signed_in,
)
from labelarts.web.session import public_origin

router = APIRouter(prefix="/ui", include_in_schema=False)

ROLE_WORDS = {LABELER: "labeler", REVIEWER: "reviewer", ADMIN: "team administrator"}
STATUS_WORDS = {
    0: "starting",
    1: "running",
    2: "in acceptance",
    3: "accepted",
    4: "rework",
    5: "synchronizing",
    6: "created",
    7: "sampling",
}
CLOSE_ACTIONS = {
    0: "Pass everything",
    1: "Reject everything",
    2: "Cancel this acceptance",
    3: "List the conflicts (changes nothing)",
    4: "Pass all but the drawn samples I rejected",
    5: "Pass only the drawn samples I accepted",
}
# The labeling queue: sent-back work first (with its comment), then what was never handed in.
QUEUE_STATES = (st.REJECTED, st.NONE, st.AUTO)
QUEUE_SIZE = 50
PAGE_LIMIT = 100


def _json(data: Mapping[str, Any]) -> str:
    return json.dumps(data).replace("</", "<\\/")


def _source_url(request: Request, page: Page, process: str | None) -> Any:
    services = services_of(request)
    project, origin = page.principal.project_id, public_origin(request)

    def source(sample: Any) -> str:
        ref = SourceRef(project, sample.dataset_id, sample.id)
        return services.signer.url(origin, ref, process if sample.sample_type == 0 else None)

    return source


async def _task_samples(
    request: Request,
    page: Page,
    dataset_id: str,
    task_id: str,
    state: str,
    *,
    limit: int,
    process: str | None,
) -> list[dict[str, Any]]:
    """The task's samples (one per assignment) the caller may see, in ``state``, up to ``limit``."""
    services = services_of(request)
    found: list[dict[str, Any]] = []
    offset = 0
    while len(found) < limit:
        batch, count = await run_in_threadpool(
            functools.partial(
                services.team_tasks.list_samples,
                page.principal,
                dataset_id,
                task_id,
                sample_state=state,
                label_name=None,
                label_type=None,
                search_conditions=None,
                offset=offset,
                limit=PAGE_LIMIT,
                source_url=_source_url(request, page, process),
            )
        )
        found.extend(batch)
        offset += 1
        if not batch or offset * PAGE_LIMIT >= count:
            break
    return found[:limit]


def _sent_back(sample: Mapping[str, Any]) -> str | None:
    """The comment that sent a result back: acceptance's when it refused it, else review's."""
    if sample.get("check_accept") is False:
        return str(sample.get("check_comment") or "")
    if sample.get("review_accept") is False:
        return str(sample.get("review_comment") or "")
    return None


def _queue_view(sample: dict[str, Any], index: Mapping[str, int]) -> dict[str, Any]:
    view = _sample_view(sample, labels_index=index)
    comment = _sent_back(sample) if sample["sample_status"] == st.REJECTED else None
    view["rejected"] = comment is not None
    view["comment"] = comment or ""
    view["worker_id"] = sample.get("worker_id")
    return view


def _progress(stats: Mapping[str, int]) -> dict[str, int]:
    """A labeler's own counts: what is left to do, handed in, sent back, accepted."""
    todo = (
        stats["unannotated_sample_count"]
        + stats["auto_annotation_sample_count"]
        + stats["rejected_sample_count"]
    )
    return {
        "todo": todo,
        "rejected": stats["rejected_sample_count"],
        "done": stats["total_sample_count"] - todo,
        "accepted": stats["accepted_sample_count"],
        "total": stats["total_sample_count"],
    }


async def _my_rows(request: Request, page: Page) -> list[dict[str, Any]]:
    """The caller's worker-task rows (ListWorkerTasks), every page."""
    services = services_of(request)
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        batch, count = await run_in_threadpool(
            functools.partial(
                services.team_tasks.worker_tasks,
                page.principal,
                offset=offset,
                limit=PAGE_LIMIT,
                search_content=None,
                sort_by="create_time",
                order="desc",
            )
        )
        rows.extend(batch)
        offset += 1
        if not batch or len(rows) >= count:
            return rows


async def _labeler_counts(request: Request, page: Page, task_id: str) -> dict[str, int]:
    stats = [row["sample_stats"] for row in await _my_rows(request, page) if row["task_id"] == task_id]
    merged = {key: sum(s[key] for s in stats) for key in stats[0]} if stats else None
    return _progress(merged) if merged else {"todo": 0, "rejected": 0, "done": 0, "accepted": 0, "total": 0}


async def _roles(request: Request, page: Page, dataset_id: str, task_id: str) -> tuple[bool, frozenset[int]]:
    owner, roles = await run_in_threadpool(
        services_of(request).team_tasks.roles_in, page.principal, dataset_id, task_id
    )
    return owner, roles


async def _task(request: Request, page: Page, dataset_id: str, task_id: str) -> dict[str, Any]:
    task: dict[str, Any] = await run_in_threadpool(
        functools.partial(
            services_of(request).team_tasks.get,
            page.principal,
            dataset_id,
            task_id,
            label_stats=False,
            sample_stats=True,
            workforce_stats=True,
        )
    )
    return task


async def _waiting_review(request: Request, page: Page, dataset_id: str, task_id: str) -> int:
    _samples, count = await run_in_threadpool(
        functools.partial(
            services_of(request).team_tasks.list_samples,
            page.principal,
            dataset_id,
            task_id,
            sample_state=st.UNREVIEWED,
            label_name=None,
            label_type=None,
            search_conditions=None,
            offset=0,
            limit=1,
            source_url=lambda _s: "",
        )
    )
    count_: int = count
    return count_


# -- a member's task list -------------------------------------------------------------------------


@router.get("/work")
@html_errors
async def work_page(request: Request) -> Response:
    """The team tasks that name the signed-in member, one row per role, with their progress."""
    page = await signed_in(request, members=True)
    if page.principal.is_owner:
        return RedirectResponse("/ui/datasets", status_code=303)
    rows = []
    for row in await _my_rows(request, page):
        role = int(row["role"])
        item = {
            "task_id": row["task_id"],
            "dataset_id": row["dataset_id"],
            "name": row["workforce_task_name"],
            "status": STATUS_WORDS.get(int(row["task_status"]), str(row["task_status"])),
            "role": role,
            "role_word": ROLE_WORDS.get(role, str(role)),
            "progress": _progress(row["sample_stats"]) if role == LABELER else None,
            "waiting": None,
        }
        if role in (REVIEWER, ADMIN):
            item["waiting"] = await _waiting_review(request, page, row["dataset_id"], row["task_id"])
        rows.append(item)
    return render(request, "work.html", page=page, rows=rows)


# -- the labeler's queue ------------------------------------------------------------------------


@router.get("/work/{dataset_id}/{task_id}/label")
@html_errors
async def label_queue(request: Request, dataset_id: str, task_id: str) -> Response:
    """The labeler's next samples: sent back first, then new. The review view's editor
    (classification, text, sound) or, for object detection, the box editor."""
    page = await signed_in(request, members=True)
    _owner, roles = await _roles(request, page, dataset_id, task_id)
    if LABELER not in roles:  # the owner edits results through the API, not a queue
        raise RoleForbiddenError("Only the task's labelers label in it.")
    services = services_of(request)
    project = page.principal.project_id
    dataset = await run_in_threadpool(services.datasets.describe, page.principal.project_id, dataset_id)
    task = await _task(request, page, dataset_id, task_id)
    labels = await _labels(services, project, dataset_id)
    index = {label["name"]: i + 1 for i, label in enumerate(labels[:9])}
    detection = dataset["dataset_type"] == 1
    process = None if detection else _process(VIEW)
    queue: list[dict[str, Any]] = []
    for state in QUEUE_STATES:
        if len(queue) < QUEUE_SIZE:
            found = await _task_samples(
                request, page, dataset_id, task_id, state, limit=QUEUE_SIZE - len(queue), process=process
            )
            queue.extend(found)
    samples = [_queue_view(s, index) for s in queue]
    counts = await _labeler_counts(request, page, task_id)
    here = f"/ui/work/{dataset_id}/{task_id}"
    label_list = [{"name": label["name"], "type": label["type"]} for label in labels]
    if detection and samples:
        box_data: dict[str, Any] = {
            "dataset_id": dataset_id,
            "sample": samples[0],
            "labels": label_list,
            "save_url": here + "/samples/{sample}/labels",
            "next_url": here + "/label",
        }
        return render(
            request,
            "boxes.html",
            page=page,
            dataset=dataset,
            sample=samples[0],
            labels=labels,
            data=_json(box_data),
            team_task=task,
            counts=counts,
        )
    data: dict[str, Any] = {
        "dataset_id": dataset_id,
        "dataset_type": dataset["dataset_type"],
        "samples": samples,
        "labels": label_list,
        "at": 0,
        "page": 0,
        "pages": 1,
        "query": "",
        "counts": counts,
        "leaves": True,
        "save_url": here + "/samples/{sample}/labels",
        "page_url": here + "/label?page=",
    }
    return render(
        request,
        "label_queue.html",
        page=page,
        dataset=dataset,
        team_task=task,
        labels=labels,
        samples=samples,
        counts=counts,
        data=_json(data),
    )


@router.post("/work/{dataset_id}/{task_id}/samples/{sample_id}/labels")
async def save_labels(request: Request, dataset_id: str, task_id: str, sample_id: str) -> Response:
    """Save (hand in) one result of the caller's, through the batch label update the API's
    ``PUT .../data-annotations/samples`` calls; answers the labeler's new counts."""
    page, body = await checked_json(request, members=True)
    labels = body.get("labels") if isinstance(body, dict) else None
    if not isinstance(labels, list):
        raise ValidationFailedError('Expected {"labels": [...]}.')
    try:
        update = UpdateTeamSamplesRequest.model_validate(
            {"samples": [{"sample_id": sample_id, "labels": labels}]}
        )
    except ValidationError as exc:
        raise ValidationFailedError(_validation_text(exc)) from None
    answer = await run_in_threadpool(
        services_of(request).team_tasks.update_samples, page.principal, dataset_id, task_id, update
    )
    result = answer["results"][0]
    if not result["success"]:
        status = 404 if result["error_code"] == SampleNotFoundError.error_code else 400
        return JSONResponse(
            {"error_code": result["error_code"], "error_msg": result["error_msg"]}, status_code=status
        )
    return JSONResponse({"counts": await _labeler_counts(request, page, task_id)})


# -- the reviewer's queue -----------------------------------------------------------------------


def _verdict_item(samples: list[dict[str, Any]], index: Mapping[str, int]) -> dict[str, Any]:
    """One sample to judge: its picture or text, and each labeler's result."""
    view = _sample_view(samples[0], labels_index=index)
    emails = {p["worker_id"]: p["email"] for s in samples for p in s.get("labelers", [])}
    view["results"] = [
        {"by": emails.get(s["worker_id"], ""), "labels": _sample_view(s, labels_index=index)["labels"]}
        for s in samples
    ]
    return view


@router.get("/work/{dataset_id}/{task_id}/review")
@html_errors
async def review_queue(request: Request, dataset_id: str, task_id: str) -> Response:
    """Labeled results waiting for review, one at a time: accept or reject, score, comment."""
    page = await signed_in(request, members=True)
    owner, roles = await _roles(request, page, dataset_id, task_id)
    if not owner and not roles & {REVIEWER, ADMIN}:
        raise RoleForbiddenError("Only the task's reviewers and team administrator review.")
    services = services_of(request)
    dataset = await run_in_threadpool(services.datasets.describe, page.principal.project_id, dataset_id)
    task = await _task(request, page, dataset_id, task_id)
    labels = await _labels(services, page.principal.project_id, dataset_id)
    index = {label["name"]: i + 1 for i, label in enumerate(labels[:9])}
    found = await _task_samples(
        request, page, dataset_id, task_id, st.UNREVIEWED, limit=QUEUE_SIZE, process=_process(VIEW)
    )
    items = []
    for sample in found:
        item = _verdict_item([sample], index)
        item["worker_id"] = sample["worker_id"]
        items.append(item)
    here = f"/ui/work/{dataset_id}/{task_id}"
    data = {"samples": items, "verdict_url": here + "/review"}
    return render(
        request,
        "review_queue.html",
        page=page,
        dataset=dataset,
        team_task=task,
        samples=items,
        data=_json(data),
        reviewing=True,
    )


def _comment(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationFailedError("Expected a JSON object.")
    return {key: body.get(key) for key in ("sample_id", "worker_id", "accept", "score", "comment")}


@router.post("/work/{dataset_id}/{task_id}/review")
async def review_verdict(request: Request, dataset_id: str, task_id: str) -> Response:
    """One review verdict, through the service ``POST .../data-annotations/review`` calls."""
    page, body = await checked_json(request, members=True)
    comment = _comment(body)
    if not comment["accept"]:
        comment["score"] = None  # a rejected result has no grade
    try:
        review = ReviewSamplesRequest.model_validate({"comments": [comment]})
    except ValidationError as exc:
        raise ValidationFailedError(_validation_text(exc)) from None
    await run_in_threadpool(
        services_of(request).team_tasks.review, page.principal, dataset_id, task_id, review
    )
    waiting = await _waiting_review(request, page, dataset_id, task_id)
    return JSONResponse({"counts": {"waiting": waiting}})


# -- the owner's team tasks and acceptance ------------------------------------------------------


@router.get("/datasets/{dataset_id}/team-tasks")
@html_errors
async def team_tasks_page(request: Request, dataset_id: str) -> Response:
    page = await signed_in(request)
    services = services_of(request)
    dataset = await run_in_threadpool(services.datasets.describe, page.principal.project_id, dataset_id)
    tasks, total = await run_in_threadpool(
        functools.partial(services.team_tasks.list_tasks, page.principal, dataset_id, offset=0, limit=100)
    )
    return render(
        request, "team_tasks.html", page=page, dataset=dataset, tasks=tasks, total=total, words=STATUS_WORDS
    )


async def _acceptance_context(request: Request, page: Page, dataset_id: str, task_id: str) -> dict[str, Any]:
    services = services_of(request)
    dataset = await run_in_threadpool(services.datasets.describe, page.principal.project_id, dataset_id)
    task = await _task(request, page, dataset_id, task_id)
    report = None
    items: list[dict[str, Any]] = []
    if task.get("checking_task_desc"):
        report = await run_in_threadpool(
            services.team_tasks.report, page.principal, dataset_id, task_id, None
        )
    if task["status"] == st.ACCEPTING:
        labels = await _labels(services, page.principal.project_id, dataset_id)
        index = {label["name"]: i + 1 for i, label in enumerate(labels[:9])}
        found = await _task_samples(
            request, page, dataset_id, task_id, st.WORKFORCE_SAMPLED, limit=10_000, process=_process(VIEW)
        )
        by_sample: dict[str, list[dict[str, Any]]] = {}
        for sample in found:
            by_sample.setdefault(sample["sample_id"], []).append(sample)
        for group in by_sample.values():
            item = _verdict_item(group, index)
            verdicts = [s.get("check_accept") for s in group]
            item["verdict"] = None if any(v is None for v in verdicts) else all(bool(v) for v in verdicts)
            item["score"] = group[0].get("check_score")
            item["comment"] = group[0].get("check_comment") or ""
            items.append(item)
    here = f"/ui/datasets/{dataset_id}/team-tasks/{task_id}/acceptance"
    # Agreement and gold accuracy (a LabelArts extension): _acceptance_quality.html.
    quality = await run_in_threadpool(services.team_tasks.agreement, page.principal, dataset_id, task_id)
    return {
        "dataset": dataset,
        "team_task": task,
        "report": report,
        "quality": quality,
        "samples": items,
        "data": _json({"samples": items, "verdict_url": here + "/verdict"}),
        "words": STATUS_WORDS,
        "actions": CLOSE_ACTIONS,
        "here": here,
        "can_sample": task["status"] in st.WORKING,
        "accepting": task["status"] == st.ACCEPTING,
    }


@router.get("/datasets/{dataset_id}/team-tasks/{task_id}/acceptance")
@html_errors
async def acceptance_page(
    request: Request, dataset_id: str, task_id: str, error: str = "", notice: str = ""
) -> Response:
    """The owner's acceptance: draw samples, judge them, read the report, close."""
    page = await signed_in(request)
    context = await _acceptance_context(request, page, dataset_id, task_id)
    return render(request, "acceptance.html", page=page, error=error, notice=notice, **context)


async def _acceptance_error(
    request: Request, page: Page, dataset_id: str, task_id: str, message: str, **extra: Any
) -> Response:
    context = await _acceptance_context(request, page, dataset_id, task_id)
    return render(request, "acceptance.html", status=400, page=page, error=message, **context, **extra)


@router.post("/datasets/{dataset_id}/team-tasks/{task_id}/acceptance/start")
@html_errors
async def start_sampling(request: Request, dataset_id: str, task_id: str) -> Response:
    page, form = await checked_post(request)
    how, amount = first(form, "by", "rate"), first(form, "amount").strip()
    try:
        value = float(amount) / 100 if how == "rate" else int(amount)
        body = StartSamplingRequest.model_validate(
            {"sampling_rate": value} if how == "rate" else {"sampling_num": value}
        )
        await run_in_threadpool(
            services_of(request).team_tasks.start_sampling, page.principal, dataset_id, task_id, body
        )
    except (ValueError, ValidationError) as exc:
        message = _validation_text(exc) if isinstance(exc, ValidationError) else "Give a number."
        return await _acceptance_error(request, page, dataset_id, task_id, message)
    except LabelArtsError as exc:
        if exc.status_code == 404:
            raise
        return await _acceptance_error(request, page, dataset_id, task_id, exc.message)
    return RedirectResponse(f"/ui/datasets/{dataset_id}/team-tasks/{task_id}/acceptance", status_code=303)


@router.post("/datasets/{dataset_id}/team-tasks/{task_id}/acceptance/verdict")
async def acceptance_verdict(request: Request, dataset_id: str, task_id: str) -> Response:
    """One acceptance verdict, through the service ``.../acceptance/batch-comment`` calls."""
    page, body = await checked_json(request)
    comment = _comment(body)
    try:
        accept = AcceptSamplesRequest.model_validate({"comments": [comment]})
    except ValidationError as exc:
        raise ValidationFailedError(_validation_text(exc)) from None
    services = services_of(request)
    await run_in_threadpool(services.team_tasks.accept_samples, page.principal, dataset_id, task_id, accept)
    report = await run_in_threadpool(services.team_tasks.report, page.principal, dataset_id, task_id, None)
    stats = report["checking_stats"]
    return JSONResponse(
        {
            "counts": {
                "checked": stats["checked_sample_count"],
                "accepted": stats["accepted_sample_count"],
                "rejected": stats["rejected_sample_count"],
            }
        }
    )


@router.post("/datasets/{dataset_id}/team-tasks/{task_id}/acceptance/close")
@html_errors
async def close_acceptance(request: Request, dataset_id: str, task_id: str) -> Response:
    page, form = await checked_post(request)
    try:
        body = UpdateSamplingRequest.model_validate(
            {
                "action": int(first(form, "action", "-1")),
                "overwrite_last_result": first(form, "overwrite_last_result") in ("on", "1", "true"),
            }
        )
        answer = await run_in_threadpool(
            functools.partial(
                services_of(request).team_tasks.close,
                page.principal,
                dataset_id,
                task_id,
                body,
                source_url=_source_url(request, page, None),
            )
        )
    except (ValueError, ValidationError) as exc:
        message = _validation_text(exc) if isinstance(exc, ValidationError) else "Choose an action."
        return await _acceptance_error(request, page, dataset_id, task_id, message)
    except LabelArtsError as exc:
        if exc.status_code == 404:
            raise
        return await _acceptance_error(request, page, dataset_id, task_id, exc.message)
    if body.action == 3:
        context = await _acceptance_context(request, page, dataset_id, task_id)
        conflicts = [_sample_view(s, labels_index={}) for s in answer["samples"]]
        return render(request, "acceptance.html", page=page, conflicts=conflicts, **context)
    notice = f"Closed: {CLOSE_ACTIONS[body.action or 0].lower()}; {answer['sample_count']} samples passed."
    return RedirectResponse(
        f"/ui/datasets/{dataset_id}/team-tasks/{task_id}/acceptance?{urlencode({'notice': notice})}",
        status_code=303,
    )
