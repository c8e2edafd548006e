"""How to reach an S3-compatible server: the ``LABELARTS_S3_*`` settings, without boto3."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from labelarts.config import Settings

AddressingStyle = Literal["auto", "path", "virtual"]


@dataclass(frozen=True)
class S3Options:
    """Where and how to reach the S3 server (``LABELARTS_S3_*`` settings).

    Credentials left unset fall back to botocore's own chain (``AWS_ACCESS_KEY_ID``...,
    ``~/.aws``, an instance role). The secret parts are excluded from ``repr``.
    """

    endpoint_url: str | None = None
    region: str = "us-east-1"
    addressing_style: AddressingStyle = "auto"
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    presign_endpoint_url: str | None = None
    page_size: int = 1000
    max_connections: int = 32

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Options:
        secret = settings.s3_secret_access_key
        token = settings.s3_session_token
        return cls(
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            addressing_style=settings.s3_addressing_style,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
            session_token=token.get_secret_value() if token is not None else None,
            presign_endpoint_url=settings.s3_presign_endpoint_url,
            page_size=settings.s3_page_size,
        )
