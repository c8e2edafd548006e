"""A sample's bytes: pre-signed ``source`` URLs, reading the file, and cached thumbnails.

``source`` in the sample list is a URL like an OBS temporary URL (COMPATIBILITY.md 2.10):
``/files/{project_id}/{dataset_id}/{sample_id}?AccessKeyId=..&Expires=..[&x-image-process=..]
&Signature=..``. It needs no other credential; the signature covers the project, dataset and
sample ids, the expiry and the image processing (see :mod:`.presign`).

With ``x-image-process`` (OBS ``image/resize`` syntax, :mod:`labelarts.media`) the image is
resized once and the result kept in the object store under
``thumbnails/{dataset_id}/{sample_id}/{sha256(ResizeSpec.cache_key())}``; later requests
are served from there without decoding. A sample's bytes never change (an upload always
makes a new sample id), so cached results never go stale; they are deleted with the sample,
and the cache as a whole stays under its size quota (:mod:`.thumbnails`, least recently used
first out).

Local files (samples imported from an import root) are read only below a root granted to the
sample's project, opened relative to the root's descriptor with links refused
(:mod:`labelarts.storage.localfs`), and served from the descriptor that was checked: nothing
is opened a second time by name.

Files are served with a content type sniffed from their first bytes (JPEG, PNG, GIF, BMP,
WebP) or guessed from the name; anything a browser could run (HTML, SVG, XML, scripts) goes
out as ``application/octet-stream`` with ``Content-Disposition: attachment``, and every
response carries ``X-Content-Type-Options: nosniff`` and a sandboxing CSP, so an uploaded file
cannot script the server's origin.
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelarts.errors import (
    ForbiddenError,
    ImageProcessError,
    SampleNotFoundError,
    SourceUnavailableError,
    ValidationFailedError,
)
from labelarts.media import (
    ImageDecodeError,
    ProcessParameterError,
    ResizeSpec,
    parse_process_parameter,
    resize_image,
)
from labelarts.media.resize import DEFAULT_MAX_PIXELS
from labelarts.services.paths import Grants, ProjectScope
from labelarts.services.samples.presign import ACCESS_KEY_ID, SourceRef, SourceSigner
from labelarts.services.samples.thumbnails import THUMBNAIL_PREFIX, ThumbnailCache
from labelarts.storage.db import Database
from labelarts.storage.db.dialect import chunked
from labelarts.storage.db.models import Dataset, DatasetVersion, Sample, VersionSample
from labelarts.storage.located import FileLocation
from labelarts.storage.objects import ObjectStore
from labelarts.storage.objects.store import PresignedReads

log = logging.getLogger("labelarts.sources")

SIGNED_QUERY_KEYS = ("AccessKeyId", "Expires", "Signature", "x-image-process")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
}
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
# Served inline; any other type is sent as an attachment of type application/octet-stream.
_INLINE_PREFIXES = ("image/", "audio/", "video/")
_INLINE_TYPES = frozenset({"text/plain", "text/csv", "application/json", "application/pdf"})
_NOT_INLINE = frozenset({"image/svg+xml"})
_LOCK_STRIPES = 64


def sniff_content_type(head: bytes, name: str) -> str:
    """The content type of a file from its first bytes, else from its name."""
    for magic, content_type in _MAGIC:
        if head.startswith(magic):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    guessed, _ = mimetypes.guess_type(name, strict=False)
    return guessed or "application/octet-stream"


def is_inline(content_type: str) -> bool:
    if content_type in _NOT_INLINE:
        return False
    return content_type.startswith(_INLINE_PREFIXES) or content_type in _INLINE_TYPES


def thumbnail_prefix(dataset_id: str, sample_id: str) -> str:
    return f"{THUMBNAIL_PREFIX}/{dataset_id}/{sample_id}/"


def thumbnail_key(dataset_id: str, sample_id: str, spec: ResizeSpec) -> str:
    digest = hashlib.sha256(spec.cache_key().encode()).hexdigest()
    return f"{thumbnail_prefix(dataset_id, sample_id)}{digest}"


def check_process_parameter(text: str | None) -> ResizeSpec | None:
    """Parse ``process_parameter`` / ``x-image-process``; 400 (ModelArts.0104) if malformed."""
    if text is None or text.strip() == "":
        return None
    try:
        return parse_process_parameter(text)
    except ProcessParameterError as exc:
        raise ValidationFailedError(f"Invalid process_parameter: {exc}") from None


def _complete_image(data: bytes) -> bool:
    """Whether a cached result is whole (guards against reading a file while it is written)."""
    if data.startswith(b"\xff\xd8"):
        return data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if data.startswith(b"\x89PNG"):
        return data.endswith(b"IEND\xaeB`\x82")
    return bool(data)


class LocalFiles:
    """Local sample files (``source_kind == "local"``), confined to the roots granted to the
    sample's project.

    A stored path is read only while it lies below an import root granted to the project
    (a root taken out of the settings, or out of the project's grants, is no longer read) and
    is opened below that root's descriptor with links refused, so a file, folder or parent
    replaced by a link is refused rather than followed. Deleting needs a root the operator
    opened to deletion (``PATH=...+delete``).
    """

    def __init__(self, grants: Grants) -> None:
        self._grants = grants

    def open(self, project_id: str, raw: str) -> BinaryIO:
        """The file opened for reading (the caller closes it); 404 (``ModelArts.4338``) when
        it is not granted, gone, or not a regular file reachable without links."""
        found = self._grants.scope(project_id).find_local(raw)
        if found is None:
            raise SourceUnavailableError()
        try:
            return found.root.open_binary(found.rel)
        except OSError:
            raise SourceUnavailableError() from None

    def locate(self, project_id: str, raw: str) -> FileLocation | None:
        """Where another process may open the file (its granted root and the path below it),
        or None when it is not granted; the reader refuses links as :meth:`open` does."""
        found = self._grants.scope(project_id).find_local(raw)
        return None if found is None else FileLocation(found.rel, str(found.root.path))

    def delete(self, project_id: str, raw: str) -> bool:
        """Delete the file if its root allows deletion; return whether a file was deleted."""
        found = self._grants.scope(project_id).find_local(raw)
        if found is None or not found.delete_allowed:
            return False
        try:
            return found.root.unlink(found.rel)
        except OSError as exc:
            log.warning("could not delete local sample file %s: %s", found.path, exc)
            return False


# Metadata keys that hold a host path (a text sample's file).
PATH_METADATA = ("@labelarts:source_file",)


class Shows(Protocol):
    def shows(self, location: str) -> bool: ...


class ShownOnce:
    """A scope's :meth:`ProjectScope.shows`, asked once per location (the samples of one page
    mostly share their folder)."""

    def __init__(self, scope: ProjectScope) -> None:
        self._scope = scope
        self._seen: dict[str, bool] = {}

    def shows(self, location: str) -> bool:
        shown = self._seen.get(location)
        if shown is None:
            shown = self._seen[location] = self._scope.shows(location)
        return shown


def hide_ungranted_paths(body: dict[str, Any], scope: Shows) -> dict[str, Any]:
    """A sample answer without host paths outside what the project is granted (now)."""
    if body.get("sample_dir") and not scope.shows(body["sample_dir"]):
        body["sample_dir"] = ""
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        for key in PATH_METADATA:
            value = metadata.get(key)
            if isinstance(value, str) and not scope.shows(value):
                del metadata[key]
    return body


SourceRow = tuple[str, str, str]  # (sample_id, source_kind, source_key)


def unshared_sources(session: Session, rows: Sequence[SourceRow]) -> list[tuple[str, str]]:
    """The sources of deleted samples that no remaining sample (of any dataset) uses.

    Call it in the deleting transaction, after the rows are gone.
    """
    wanted = sorted({(kind, key) for _id, kind, key in rows})
    still: set[tuple[str, str]] = set()
    for keys in chunked(key for _kind, key in wanted):
        query = select(Sample.source_kind, Sample.source_key).where(Sample.source_key.in_(keys))
        still.update((kind, key) for kind, key in session.execute(query))
    return [source for source in wanted if source not in still]


class SampleFiles:
    """Removes what deleted samples leave behind, after their rows are committed away:
    cached thumbnails always, and with ``delete_source`` their source files, but only files
    LabelArts itself stored (the dataset's own objects: uploads, text lines) unless the
    operator opened the granted root or prefix to deletion (``+delete``)."""

    def __init__(
        self, objects: ObjectStore, local: LocalFiles, grants: Grants, thumbnails: ThumbnailCache
    ) -> None:
        self._objects = objects
        self._local = local
        self._grants = grants
        self._thumbnails = thumbnails

    def remove(
        self,
        project_id: str,
        dataset_id: str,
        deleted: Sequence[SourceRow],
        sources: Sequence[tuple[str, str]],
    ) -> None:
        for sample_id, _kind, _key in deleted:
            prefix = thumbnail_prefix(dataset_id, sample_id)
            self._thumbnails.forget_prefix(prefix)
            self.delete_objects(self._objects.list(prefix))
        scope = self._grants.scope(project_id)
        own = f"datasets/{dataset_id}/"
        for kind, key in sources:
            if kind == "local":
                self._local.delete(project_id, key)
            elif key.startswith(own) or scope.may_delete_object(key):
                self.delete_objects([key])

    def scope(self, project_id: str) -> ProjectScope:
        """What the project may reach (and answers to it may show)."""
        return self._grants.scope(project_id)

    def delete_objects(self, keys: Iterable[str]) -> None:
        """Delete stored objects, logging (not raising) what cannot be deleted."""
        for key in list(keys):
            try:
                self._objects.delete(key)
            except Exception as exc:  # the rows are gone; a leftover file is only wasted space
                log.warning("could not delete object %s: %s", key, exc)


@dataclass(frozen=True)
class SampleFile:
    """What a sample's source is, as needed to serve it."""

    sample_id: str
    dataset_id: str
    name: str
    source_kind: str
    source_key: str
    content_hash: str | None
    project_id: str


@dataclass
class SourceContent:
    """A response to serve: ``body`` (bytes) or ``file`` (an open local file, which the
    response reads to its end and closes), or neither for 304."""

    content_type: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    file: BinaryIO | None = None
    not_modified: bool = False


class LinkedSample(Protocol):
    """What :meth:`SampleSourceService.link` reads of a sample row."""

    sample_name: str
    source_kind: str
    source_key: str


class ListedSample(LinkedSample, Protocol):
    """What :meth:`SampleSourceService.links` reads of a sample row."""

    id: str
    dataset_id: str


class SampleSourceService:
    def __init__(
        self,
        db: Database,
        objects: ObjectStore,
        signer: SourceSigner,
        local: LocalFiles,
        thumbnails: ThumbnailCache,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        presign: bool = False,
    ) -> None:
        """``presign``: give S3 pre-signed GET URLs of objects (:meth:`link`) when the store
        can make them (an ``s3://`` store); other stores ignore it."""
        self._db = db
        self._objects = objects
        self._signer = signer
        self.local = local
        self.thumbnails = thumbnails
        self._max_pixels = max_pixels
        self._presign = objects if presign and isinstance(objects, PresignedReads) else None
        # Concurrent first requests for one thumbnail render it once (per process).
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    # -- URLs -------------------------------------------------------------------------------------

    def source_url(
        self,
        origin: str,
        project_id: str,
        dataset_id: str,
        sample_id: str,
        process_parameter: str | None,
        *,
        now: float | None = None,
    ) -> str:
        """The pre-signed ``source`` URL of a sample on ``origin`` (e.g. ``http://host:8080``).

        ``process_parameter`` (OBS ``image/resize,...``) is validated (400, ModelArts.0104) and
        signed into the URL as ``x-image-process``; empty means the original file.
        """
        process = process_parameter.strip() if process_parameter else None
        check_process_parameter(process)
        ref = SourceRef(project_id, dataset_id, sample_id)
        return self._signer.url(origin, ref, process or None, now=now)

    def link(self, origin: str, ref: SourceRef, sample: LinkedSample, process: str | None) -> str:
        """The ``source`` URL of a listed sample: an S3 pre-signed GET of the object itself
        when the store is S3 and ``LABELARTS_S3_PRESIGN`` is on (originals only: a processed
        image must be rendered, and local files are not in the store), else a URL of this
        server's ``/files`` route. ``process`` has been validated by the caller."""
        if process is None and self._presign is not None and sample.source_kind == "object":
            content_type, _ = mimetypes.guess_type(sample.sample_name, strict=False)
            inline = content_type is not None and is_inline(content_type)
            return self._presign.presigned_get(
                sample.source_key,
                self._signer.ttl_seconds,
                content_type=content_type if inline else "application/octet-stream",
                attachment=not inline,
            )
        return self._signer.url(origin, ref, process)

    def links(self, origin: str, project_id: str) -> Callable[[ListedSample, str | None], str]:
        """:meth:`link` for the samples of one answer (a list page): ``links(sample, process)``.
        Signed URLs of this server share their prefix and keyed state per dataset and process,
        worked out once instead of once a sample."""
        makers: dict[tuple[str, str | None], Callable[[str, float | None], str]] = {}

        def link(sample: ListedSample, process: str | None) -> str:
            if process is None and self._presign is not None and sample.source_kind == "object":
                return self.link(origin, SourceRef(project_id, sample.dataset_id, sample.id), sample, None)
            key = (sample.dataset_id, process)
            maker = makers.get(key)
            if maker is None:
                maker = makers[key] = self._signer.url_maker(origin, project_id, sample.dataset_id, process)
            return maker(sample.id, None)

        return link

    # -- reading ----------------------------------------------------------------------------------

    def read_bytes(self, sample: SampleFile) -> bytes:
        """The sample's file content; 404 (ModelArts.4338) when the file is gone."""
        if sample.source_kind == "local":
            with self.local.open(sample.project_id, sample.source_key) as fh:
                try:
                    return fh.read()
                except OSError:
                    raise SourceUnavailableError() from None
        try:
            return self._objects.get(sample.source_key)
        except (FileNotFoundError, IsADirectoryError):
            raise SourceUnavailableError() from None

    def locate(self, sample: SampleFile) -> FileLocation | None:
        """Where a reader that shares the object store and the granted folders (a Ray worker)
        finds the sample's file, the grant checked here; None when it is not granted (read
        as gone, as :meth:`read_bytes` would)."""
        if sample.source_kind == "local":
            return self.local.locate(sample.project_id, sample.source_key)
        return FileLocation(sample.source_key)

    def _find(self, ref: SourceRef) -> SampleFile:
        with self._db.session() as session:
            row = session.execute(
                select(
                    Sample.id,
                    Sample.dataset_id,
                    Sample.sample_name,
                    Sample.source_kind,
                    Sample.source_key,
                    Sample.content_hash,
                    Dataset.project_id,
                )
                .join(Dataset, Dataset.id == Sample.dataset_id)
                .where(
                    Sample.id == ref.sample_id,
                    Sample.dataset_id == ref.dataset_id,
                    Dataset.project_id == ref.project_id,
                )
            ).first()
            if row is None:
                # A sample only a version holds (deleted since, or written by a processing run).
                row = session.execute(
                    select(
                        VersionSample.sample_id,
                        DatasetVersion.dataset_id,
                        VersionSample.sample_name,
                        VersionSample.source_kind,
                        VersionSample.source_key,
                        VersionSample.content_hash,
                        Dataset.project_id,
                    )
                    .join(DatasetVersion, DatasetVersion.id == VersionSample.version_id)
                    .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
                    .where(
                        VersionSample.sample_id == ref.sample_id,
                        DatasetVersion.dataset_id == ref.dataset_id,
                        Dataset.project_id == ref.project_id,
                    )
                    .limit(1)
                ).first()
        if row is None:
            raise SampleNotFoundError()
        return SampleFile(*row)

    # -- the signed GET ---------------------------------------------------------------------------

    def open_signed(
        self,
        project_id: str,
        dataset_id: str,
        sample_id: str,
        query: Sequence[tuple[str, str]],
        *,
        if_none_match: str | None = None,
        now: float | None = None,
    ) -> SourceContent:
        """Verify a pre-signed request (``query`` already URL-decoded) and return what to serve.

        403 (ModelArts.4203) for a missing, repeated, changed or expired signature part, or the
        query of another sample; 404 when the sample no longer exists; 400 for a process
        parameter that cannot be applied (malformed, not an image, corrupt, too many pixels).
        """
        ref = SourceRef(project_id, dataset_id, sample_id)
        params: dict[str, str] = {}
        for key, value in query:
            if key in SIGNED_QUERY_KEYS:
                if key in params:
                    raise ForbiddenError(f"The URL repeats {key}.", error_code="ModelArts.4203")
                params[key] = value
        if params.get("AccessKeyId") != ACCESS_KEY_ID:
            raise ForbiddenError("The URL is not signed by this server.", error_code="ModelArts.4203")
        process = params.get("x-image-process")
        self._signer.verify(ref, params.get("Expires"), params.get("Signature"), process)
        moment = time.time() if now is None else now
        max_age = max(0, int(params["Expires"]) - int(moment))
        sample = self._find(ref)
        spec = check_process_parameter(process)
        if spec is None:
            return self._original(sample, max_age, if_none_match)
        return self._thumbnail(sample, spec, max_age, if_none_match)

    @staticmethod
    def _headers(etag: str, max_age: int, content_type: str) -> dict[str, str]:
        headers = {"Cache-Control": f"private, max-age={max_age}", "ETag": etag, **SECURITY_HEADERS}
        if not is_inline(content_type):
            headers["Content-Disposition"] = "attachment"
        return headers

    def _original(self, sample: SampleFile, max_age: int, if_none_match: str | None) -> SourceContent:
        etag = f'"{sample.content_hash or sample.sample_id}"'
        if if_none_match is not None and _etag_matches(if_none_match, etag):
            return _not_modified(etag, max_age)
        if sample.source_kind == "local":
            content = self._local_original(sample)
        else:
            data = self.read_bytes(sample)
            content = SourceContent(sniff_content_type(data[:16], sample.name), body=data)
        if not is_inline(content.content_type):
            content.content_type = "application/octet-stream"
        content.headers.update(self._headers(etag, max_age, content.content_type))
        return content

    def _thumbnail(
        self, sample: SampleFile, spec: ResizeSpec, max_age: int, if_none_match: str | None
    ) -> SourceContent:
        key = thumbnail_key(sample.dataset_id, sample.sample_id, spec)
        etag = f'"{sample.content_hash or sample.sample_id}-{key.rsplit("/", 1)[1][:16]}"'
        if if_none_match is not None and _etag_matches(if_none_match, etag):
            return _not_modified(etag, max_age)
        data = self._cached(key)
        if data is None:
            with self._locks[hash(key) % _LOCK_STRIPES]:
                data = self._cached(key)
                if data is None:
                    data = self._render(sample, spec)
                    self.thumbnails.put(key, data)
        content_type = sniff_content_type(data[:16], "")
        return SourceContent(content_type, headers=self._headers(etag, max_age, content_type), body=data)

    def _local_original(self, sample: SampleFile) -> SourceContent:
        """A local original, left open: the response streams it from this very descriptor."""
        fh = self.local.open(sample.project_id, sample.source_key)
        try:
            head = fh.read(16)
            fh.seek(0)
            size = os.fstat(fh.fileno()).st_size
        except OSError:
            fh.close()
            raise SourceUnavailableError() from None
        content = SourceContent(sniff_content_type(head, sample.name), file=fh)
        content.headers["Content-Length"] = str(size)
        return content

    def _cached(self, key: str) -> bytes | None:
        data = self.thumbnails.get(key)
        return data if data is not None and _complete_image(data) else None

    def _render(self, sample: SampleFile, spec: ResizeSpec) -> bytes:
        source = self.read_bytes(sample)
        try:
            data, _content_type = resize_image(source, spec, max_pixels=self._max_pixels)
        except ImageDecodeError as exc:
            raise ImageProcessError(f"The sample cannot be processed as an image: {exc}") from None
        except ProcessParameterError as exc:
            raise ValidationFailedError(f"Invalid process_parameter: {exc}") from None
        return data


def _not_modified(etag: str, max_age: int) -> SourceContent:
    headers = {"Cache-Control": f"private, max-age={max_age}", "ETag": etag, **SECURITY_HEADERS}
    return SourceContent("application/octet-stream", headers=headers, not_modified=True)


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [c.strip().removeprefix("W/") for c in header.split(",")]
    return "*" in candidates or etag in candidates
