"""Sample list and detail, and the auto-annotation (to be confirmed) list and detail."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from labelarts.api.deps import PrincipalDep, ServicesDep
from labelarts.api.links import public_origin
from labelarts.api.responses import json_answer
from labelarts.container import Services
from labelarts.errors import ValidationFailedError
from labelarts.media import ProcessParameterError, parse_process_parameter
from labelarts.services.samples.query import SampleQuery, validate_scores
from labelarts.services.samples.records import AUTO
from labelarts.services.samples.search import parse_search_conditions
from labelarts.storage.db.models import Sample

router = APIRouter(prefix="/v2/{project_id}/datasets/{dataset_id}", tags=["samples"])

Limit = Annotated[int, Query(ge=1, le=100, description="Page size, 1-100.")]
Offset = Annotated[int, Query(ge=0, le=100_000_000, description="Page number, from 0.")]
Score = Annotated[str | None, Query(max_length=32, description="Number in [0, 1], inclusive bound.")]
Text = Annotated[str | None, Query(max_length=1024)]
Int32 = Annotated[int | None, Query(ge=-(2**31), le=2**31 - 1)]
Conditions = Annotated[str | None, Query(max_length=16_384, description="URL-encoded JSON array.")]


def _source_maker(
    services: Services, request: Request, project_id: str, process_parameter: str | None
) -> Callable[[Sample], str]:
    """Pre-signed source URLs (on the public origin, or of S3 objects where the operator
    enables it); image processing only for images."""
    process: str | None = None
    if process_parameter:
        try:
            process = parse_process_parameter(process_parameter).cache_key().split(":", 1)[1]
        except ProcessParameterError as exc:
            raise ValidationFailedError(f"process_parameter: {exc}") from None
    links = services.sources.links(public_origin(request), project_id)

    def make(sample: Sample) -> str:
        return links(sample, process if sample.sample_type == 0 else None)

    return make


def _page(
    services: Services,
    request: Request,
    project_id: str,
    dataset_id: str,
    query: SampleQuery,
    process_parameter: str | None,
) -> Response:
    """One page of samples as the list endpoints answer it."""
    make_source = _source_maker(services, request, project_id, process_parameter)
    samples, count = services.sample_list.list_samples(project_id, dataset_id, query, source_url=make_source)
    return json_answer({"sample_count": count, "samples": samples})


def _query(
    *,
    offset: int,
    limit: int,
    order: str,
    sample_state: str | None,
    sample_type: int | None,
    label_name: str | None,
    label_type: int | None,
    low_score: str | None,
    high_score: str | None,
    search_conditions: str | None,
    email: str | None,
    fixed_status: str | None = None,
) -> SampleQuery:
    low, high = validate_scores(low_score, high_score)
    conditions = list(parse_search_conditions(search_conditions))
    if email:
        conditions.append({"labeler": email})
    return SampleQuery(
        offset=offset,
        limit=limit,
        order="asc" if order == "asc" else "desc",
        sample_state=sample_state,
        sample_type=sample_type,
        label_name=label_name,
        label_type=label_type,
        low_score=low,
        high_score=high,
        conditions=tuple(conditions),
        fixed_status=fixed_status,
    )


# response_model: the schema the docs show; the page itself is encoded once (api/responses.py).
@router.get("/data-annotations/samples", response_model=dict[str, Any])
def list_samples(
    project_id: str,
    dataset_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Limit = 10,
    offset: Offset = 0,
    order: Literal["asc", "desc"] = "desc",
    sample_state: Annotated[str | None, Query(max_length=64)] = None,
    sample_type: Int32 = None,
    label_name: Text = None,
    label_type: Int32 = None,
    low_score: Score = None,
    high_score: Score = None,
    search_conditions: Conditions = None,
    process_parameter: Annotated[str | None, Query(max_length=256)] = None,
    preview: bool = False,
    version_id: Annotated[str | None, Query(max_length=64, pattern=r"^[^\x00]*$")] = None,
    email: Annotated[str | None, Query(max_length=256)] = None,
    locale: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    """Samples by page (``offset`` is a page number). See docs/api.md for order and filters."""
    query = _query(
        offset=offset,
        limit=limit,
        order=order,
        sample_state=sample_state,
        sample_type=sample_type,
        label_name=label_name,
        label_type=label_type,
        low_score=low_score,
        high_score=high_score,
        search_conditions=search_conditions,
        email=email,
    )
    if version_id:  # the samples and labels the version froze
        make_source = _source_maker(services, request, principal.project_id, process_parameter)
        samples, count = services.versions.list_samples(
            principal.project_id, dataset_id, version_id, query, source_url=make_source
        )
        return json_answer({"sample_count": count, "samples": samples})
    return _page(services, request, principal.project_id, dataset_id, query, process_parameter)


@router.get("/data-annotations/samples/{sample_id}")
def describe_sample(
    project_id: str,
    dataset_id: str,
    sample_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    email: Annotated[str | None, Query(max_length=256)] = None,
    process_parameter: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    make_source = _source_maker(services, request, principal.project_id, process_parameter)
    return services.sample_list.describe(principal.project_id, dataset_id, sample_id, source_url=make_source)


@router.get("/auto-annotations/samples", response_model=dict[str, Any])
def list_auto_annotation_samples(
    project_id: str,
    dataset_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Limit = 10,
    offset: Offset = 0,
    order: Literal["asc", "desc"] = "desc",
    label_name: Text = None,
    label_type: Int32 = None,
    low_score: Score = None,
    high_score: Score = None,
    search_conditions: Conditions = None,
    process_parameter: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    """The samples auto labeling labelled, waiting for a person to confirm them."""
    query = _query(
        offset=offset,
        limit=limit,
        order=order,
        sample_state=None,
        sample_type=None,
        label_name=label_name,
        label_type=label_type,
        low_score=low_score,
        high_score=high_score,
        search_conditions=search_conditions,
        email=None,
        fixed_status=AUTO,
    )
    return _page(services, request, principal.project_id, dataset_id, query, process_parameter)


@router.get("/auto-annotations/samples/{sample_id}")
def describe_auto_annotation_sample(
    project_id: str,
    dataset_id: str,
    sample_id: str,
    request: Request,
    principal: PrincipalDep,
    services: ServicesDep,
    process_parameter: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    make_source = _source_maker(services, request, principal.project_id, process_parameter)
    return services.sample_list.describe(
        principal.project_id, dataset_id, sample_id, source_url=make_source, status=AUTO
    )
