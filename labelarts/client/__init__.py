"""A Python client for the LabelArts (ModelArts data-management) API: ``LabelArtsClient``
(sync) and ``AsyncLabelArtsClient`` (async), one implementation behind both (docs/client.md)."""

from labelarts.client._async_client import AsyncLabelArtsClient
from labelarts.client._auth import SdkHmacAuth, TokenAuth
from labelarts.client._client import LabelArtsClient
from labelarts.client._core import LabelArtsError, PageWalk, Retry

__all__ = [
    "AsyncLabelArtsClient",
    "LabelArtsClient",
    "LabelArtsError",
    "PageWalk",
    "Retry",
    "SdkHmacAuth",
    "TokenAuth",
]
