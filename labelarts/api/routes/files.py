"""Pre-signed sample sources (``source`` URLs), with optional OBS-style image processing.

No credential besides the URL's own signature (COMPATIBILITY.md 2.10); see
:mod:`labelarts.services.samples.sources`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from labelarts.api.deps import ServicesDep

router = APIRouter(prefix="/files", tags=["files"])
_CHUNK = 256 * 1024


def _chunks(fh: BinaryIO) -> Iterator[bytes]:
    try:
        while chunk := fh.read(_CHUNK):
            yield chunk
    finally:
        fh.close()


@router.get("/{project_id}/{dataset_id}/{sample_id}")
def get_sample_source(
    project_id: str, dataset_id: str, sample_id: str, request: Request, services: ServicesDep
) -> Response:
    """The sample's file, or its ``x-image-process`` rendering; 403 unless the signature holds."""
    content = services.sources.open_signed(
        project_id,
        dataset_id,
        sample_id,
        request.query_params.multi_items(),  # already URL-decoded
        if_none_match=request.headers.get("if-none-match"),
    )
    if content.not_modified:
        return Response(status_code=304, headers=content.headers)
    if content.file is not None:
        # Streamed from the descriptor the service opened (and checked): never reopened by name.
        return StreamingResponse(
            _chunks(content.file),
            media_type=content.content_type,
            headers=content.headers,
            background=BackgroundTask(content.file.close),
        )
    return Response(content.body, media_type=content.content_type, headers=content.headers)


@router.get("/{project_id}/processing/{task_id}/{version_id}/{result_id}")
def get_processing_result_file(
    project_id: str, task_id: str, version_id: str, result_id: str, request: Request, services: ServicesDep
) -> Response:
    """A processing result's original (``N.origin``) or new (``N.new``) file, or its
    ``x-image-process`` rendering; 403 unless the signature holds."""
    content = services.processing.open_signed_result(
        project_id, task_id, version_id, result_id, request.query_params.multi_items()
    )
    return Response(content.body, media_type=content.content_type, headers=content.headers)
