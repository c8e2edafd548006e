"""The object store in an S3-compatible bucket (AWS S3, Huawei OBS, MinIO, Ceph RGW...), over boto3.

Why boto3 and not s3fs (which :class:`~labelarts.storage.objects.store.FsspecObjectStore`
could use): s3fs lists a "folder" completely before returning it and keeps listings in its
directory cache, so a prefix of a million keys would sit in memory; boto3's paginator hands
over one ``ListObjectsV2`` page (``page_size`` keys, 1,000 by default) at a time, and
:meth:`S3ObjectStore.list` yields each page before asking for the next. boto3 also signs
pre-signed GET URLs offline, is synchronous like the worker threads that call it, and its
clients are thread-safe.

Semantics kept from the other stores:

* keys are normalised and may not leave the store's root (``s3://bucket/optional/root``);
* :meth:`S3ObjectStore.put_stream` never leaves a half-written object at its key: S3 makes an
  object visible only once its PUT (or multipart upload) completes, and a failed multipart
  upload is aborted;
* a missing object is ``FileNotFoundError``; "folder" markers (keys ending in ``/``) are not
  objects and are never listed.

Errors: a refusal by the server (bad or unknown credentials, a wrong signature, access denied)
becomes :class:`~labelarts.errors.ObjectStoreAccessError` (400 ``ModelArts.4314``), a missing
bucket :class:`~labelarts.errors.ObjectStoreBucketError` (400 ``ModelArts.4311``), an
unreachable endpoint :class:`~labelarts.errors.ObjectStoreUnavailableError` (503
``ModelArts.1002``). Their messages name the S3 error code and the bucket, never a credential:
the secret key is held only by botocore's credential object, and ``S3Options``' ``repr``
leaves it out.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Final, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from labelarts.errors import (
    ObjectStoreAccessError,
    ObjectStoreBucketError,
    ObjectStoreUnavailableError,
)
from labelarts.storage.objects.options import S3Options
from labelarts.storage.objects.store import ObjectInfo, normalize_key

log = logging.getLogger("labelarts.objects.s3")

# A multipart upload's parts must be at least 5 MiB (but the last); 8 MiB keeps a stream's
# memory at one part while a 1 GB export stays well under the 10,000-part limit.
PART_BYTES: Final = 8 * 1024 * 1024
_DELETE_BATCH: Final = 1000  # DeleteObjects takes at most 1,000 keys
_MISSING: Final = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_BUCKET: Final = frozenset({"NoSuchBucket"})
_DENIED: Final = frozenset(
    {
        "403",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "InvalidSecurity",
        "AuthorizationHeaderMalformed",
    }
)
_T = TypeVar("_T")


def make_client(options: S3Options, endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client (thread-safe: one per store, shared by every thread)."""
    session = boto3.session.Session(
        aws_access_key_id=options.access_key_id,
        aws_secret_access_key=options.secret_access_key,
        aws_session_token=options.session_token,
        region_name=options.region,
    )
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": options.addressing_style},
        retries={"max_attempts": 4, "mode": "standard"},
        max_pool_connections=options.max_connections,
        connect_timeout=10,
        read_timeout=60,
    )
    return session.client("s3", endpoint_url=endpoint_url or options.endpoint_url, config=config)


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket[/root]`` -> (bucket, root without slashes at either end)."""
    if not url.startswith("s3://"):
        raise ValueError("an S3 object store URL starts with s3://")
    bucket, _, root = url[len("s3://") :].partition("/")
    if not bucket:
        raise ValueError("the S3 object store URL names no bucket (s3://BUCKET[/PREFIX])")
    return bucket, root.strip("/")


class S3ObjectStore:
    """:class:`~labelarts.storage.objects.store.ObjectStore` over one bucket (and key root)."""

    def __init__(self, url: str, options: S3Options | None = None) -> None:
        self.options = options or S3Options()
        self.bucket, self.root = parse_s3_url(url)
        self.client = make_client(self.options)
        self._presigner: Any = None

    def __repr__(self) -> str:
        return f"S3ObjectStore(s3://{self.bucket}/{self.root}, endpoint={self.options.endpoint_url!r})"

    # --- keys and errors ------------------------------------------------------------------

    def _key(self, key: str) -> str:
        cleaned = normalize_key(key)
        return f"{self.root}/{cleaned}" if self.root else cleaned

    def _strip(self, full: str) -> str:
        return full[len(self.root) + 1 :] if self.root else full

    def _call(self, what: str, call: Callable[[], _T], key: str | None = None) -> _T:
        """Run one request; S3 errors become the store's errors (see the module docstring)."""
        try:
            return call()
        except ClientError as exc:
            raise self._translate(exc, what, key) from None
        except NoCredentialsError:
            raise ObjectStoreAccessError(
                "The object store has no credentials: set LABELARTS_S3_ACCESS_KEY_ID and "
                "LABELARTS_S3_SECRET_ACCESS_KEY."
            ) from None
        except EndpointConnectionError:
            raise ObjectStoreUnavailableError(
                f"The object store at {self.options.endpoint_url or 'the default S3 endpoint'} "
                "cannot be reached."
            ) from None
        except BotoCoreError as exc:
            log.warning("object store %s of %s failed: %s", what, key, type(exc).__name__)
            raise ObjectStoreUnavailableError(f"The object store failed to {what}.") from None

    def _translate(self, exc: ClientError, what: str, key: str | None) -> Exception:
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
        if code in _MISSING:
            return FileNotFoundError(2, "no such object", key)
        if code in _NO_BUCKET:
            return ObjectStoreBucketError(f"The object store's bucket {self.bucket!r} does not exist.")
        if code in _DENIED:
            return ObjectStoreAccessError(
                f"The object store refused to {what} in bucket {self.bucket!r} ({code}): check "
                "the LABELARTS_S3_* credentials and the bucket policy."
            )
        log.warning("object store %s of %s failed: %s", what, key, code)
        return ObjectStoreUnavailableError(f"The object store failed to {what} ({code}).")

    # --- reading --------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def open(self, key: str) -> IO[bytes]:
        """The object's body, streamed (not seekable); ``FileNotFoundError`` if there is none."""
        full = self._key(key)
        response = self._call(
            "read an object", lambda: self.client.get_object(Bucket=self.bucket, Key=full), key
        )
        return io.BufferedReader(_Body(response["Body"]), buffer_size=1 << 20)

    def _head(self, key: str) -> dict[str, Any] | None:
        full = self._key(key)
        try:
            head: dict[str, Any] = self._call(
                "read an object's size", lambda: self.client.head_object(Bucket=self.bucket, Key=full), key
            )
        except FileNotFoundError:
            return None
        return head

    def info(self, key: str) -> tuple[int, float]:
        head = self._head(key)
        if head is None:
            raise FileNotFoundError(2, "no such object", key)
        return int(head["ContentLength"]), head["LastModified"].timestamp()

    def exists(self, key: str) -> bool:
        """Whether ``key`` is an object or a "folder" holding objects (as fsspec answers)."""
        if key.endswith("/") or self._head(key) is None:
            return self._any_under(self._key(key).rstrip("/") + "/")
        return True

    def _any_under(self, prefix: str) -> bool:
        page = self._call(
            "list objects",
            lambda: self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1),
            prefix,
        )
        return bool(page.get("KeyCount") or page.get("Contents"))

    def list(self, prefix: str) -> Iterator[str]:
        for found in self.list_info(prefix):
            yield found.key

    def list_info(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under ``prefix`` (a "folder") or equal to it, with size and time.

        Streamed one ``ListObjectsV2`` page (``page_size`` keys) at a time, in the server's
        key order (UTF-8 byte order): each page is yielded before the next is requested, so
        memory holds one page whatever the prefix holds. The sizes and times come with the
        listing, so an import makes no request per object before reading it.
        """
        base = self._key(prefix)
        listed = False
        for page in self._pages(base + "/"):
            for item in page:
                listed = True
                yield item
        if not listed:
            head = self._head(prefix)
            if head is not None:
                yield ObjectInfo(
                    self._strip(base), int(head["ContentLength"]), head["LastModified"].timestamp()
                )

    def _pages(self, prefix: str) -> Iterator[builtins.list[ObjectInfo]]:
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "Bucket": self.bucket,
                "Prefix": prefix,
                "MaxKeys": self.options.page_size,
            }
            if token:
                params["ContinuationToken"] = token
            page: dict[str, Any] = self._call(
                "list objects", functools.partial(self.client.list_objects_v2, **params), prefix
            )
            yield [
                ObjectInfo(self._strip(item["Key"]), int(item["Size"]), item["LastModified"].timestamp())
                for item in page.get("Contents", ())
                if not item["Key"].endswith("/")
            ]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    # --- writing --------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        full = self._key(key)
        self._call(
            "write an object", lambda: self.client.put_object(Bucket=self.bucket, Key=full, Body=data), key
        )

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> int:
        """Write ``chunks``: one PUT when they total under :data:`PART_BYTES`, else a multipart
        upload of 8 MiB parts (one part in memory at a time), aborted if anything fails. The
        object appears at ``key`` only once complete."""
        full = self._key(key)
        buffer = bytearray()
        written = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                buffer += chunk
                written += len(chunk)
                while len(buffer) >= PART_BYTES:
                    if upload_id is None:
                        upload_id = self._call(
                            "start an upload",
                            lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=full),
                            key,
                        )["UploadId"]
                    parts.append(
                        self._upload_part(full, upload_id, len(parts) + 1, bytes(buffer[:PART_BYTES]))
                    )
                    del buffer[:PART_BYTES]
            if upload_id is None:
                self.put(key, bytes(buffer))
                return written
            if buffer or not parts:
                parts.append(self._upload_part(full, upload_id, len(parts) + 1, bytes(buffer)))
            done_id = upload_id
            self._call(
                "complete an upload",
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=full, UploadId=done_id, MultipartUpload={"Parts": parts}
                ),
                key,
            )
            upload_id = None
        finally:
            if upload_id is not None:
                aborted_id = upload_id
                with contextlib.suppress(Exception):
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=aborted_id)
        return written

    def _upload_part(self, full: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        answer = self._call(
            "upload a part",
            lambda: self.client.upload_part(
                Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=data
            ),
            full,
        )
        return {"ETag": answer["ETag"], "PartNumber": number}

    def delete(self, key: str) -> None:
        """Delete an object, or every object under a "folder", a page at a time."""
        full = self._key(key)
        self._call("delete an object", lambda: self.client.delete_object(Bucket=self.bucket, Key=full), key)
        for page in self._pages(full.rstrip("/") + "/"):
            for start in range(0, len(page), _DELETE_BATCH):
                batch = [{"Key": self._key(item.key)} for item in page[start : start + _DELETE_BATCH]]
                if batch:
                    self._call(
                        "delete objects",
                        functools.partial(
                            self.client.delete_objects,
                            Bucket=self.bucket,
                            Delete={"Objects": batch, "Quiet": True},
                        ),
                        key,
                    )

    # --- pre-signed reads -----------------------------------------------------------------

    def presigned_get(
        self, key: str, ttl_seconds: int, *, content_type: str | None = None, attachment: bool = False
    ) -> str:
        """An S3 pre-signed GET URL of the object (signed offline, SigV4, at most 7 days),
        on ``presign_endpoint_url`` when set (the endpoint clients reach), else the store's.
        ``content_type`` / ``attachment`` override what the server answers for it."""
        if self._presigner is None:
            self._presigner = (
                make_client(self.options, self.options.presign_endpoint_url)
                if self.options.presign_endpoint_url
                else self.client
            )
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self._key(key)}
        if content_type:
            params["ResponseContentType"] = content_type
        if attachment:
            params["ResponseContentDisposition"] = "attachment"
        url: str = self._presigner.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=max(1, min(ttl_seconds, 7 * 86_400))
        )
        return url

    def check(self) -> None:
        """Reach the bucket once (start-up check): raises the store's errors if it cannot."""
        try:
            self._call("reach the bucket", lambda: self.client.head_bucket(Bucket=self.bucket))
        except FileNotFoundError:  # HeadBucket has no body: a bare 404 is the bucket's
            raise ObjectStoreBucketError(
                f"The object store's bucket {self.bucket!r} does not exist."
            ) from None


class _Body(io.RawIOBase):
    """botocore's streaming body as a raw stream (read-only, not seekable), closed with it."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._body.read(len(buffer))
        except BotoCoreError as exc:
            raise OSError(f"object store read failed: {type(exc).__name__}") from None
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                self._body.close()
        super().close()
