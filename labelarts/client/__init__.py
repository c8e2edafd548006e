"""A Python client for the LabelArts (ModelArts data-management) API."""

from labelarts.client._auth import SdkHmacAuth, TokenAuth
from labelarts.client._client import LabelArtsClient, LabelArtsError

__all__ = ["LabelArtsClient", "LabelArtsError", "SdkHmacAuth", "TokenAuth"]
