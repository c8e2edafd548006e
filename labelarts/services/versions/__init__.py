"""Dataset versions: publishing (a background task), listing, detail, deletion."""

from labelarts.services.versions.publish import PUBLISH_KIND
from labelarts.services.versions.service import VersionService

__all__ = ["PUBLISH_KIND", "VersionService"]
