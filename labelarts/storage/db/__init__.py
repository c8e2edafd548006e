"""SQLAlchemy models, engine set-up, migrations and the repositories the services use."""

from labelarts.storage.db.dialect import PoolOptions
from labelarts.storage.db.engine import Database, retry_when_busy

__all__ = ["Database", "PoolOptions", "retry_when_busy"]
