"""Operating LabelArts: migrations, logging, metrics, the public URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from labelarts.config import Settings
from tests.conftest import LiveServer, make_settings, serving


@contextmanager
def server_with(tmp_path: Path, database_url: str, **settings: Any) -> Iterator[LiveServer]:
    """A server on loopback whose settings differ from the tests' defaults by ``settings``."""
    root = tmp_path / "imports"
    root.mkdir(exist_ok=True)
    base = make_settings(tmp_path, database_url, root)
    config = Settings.model_validate({**base.model_dump(), **settings})  # validated, as from flags
    with serving(config) as server:
        yield server
