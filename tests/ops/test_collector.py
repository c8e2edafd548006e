"""A served app leaves what start-up built out of the garbage collector's full collections
(``startup.settle_long_lived_objects``): with the ML libraries loaded that is some 300k objects,
and a full collection that walked them all stopped every request for 150-200 ms."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

from labelarts.app import create_app
from labelarts.config import Settings


def test_a_served_app_freezes_its_start_up_objects(tmp_path: Path, database_url: str) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        secret_key="test-server-secret-0123456789",
        worker_processes=0,
    )
    app = create_app(settings)  # no services given: its lifespan builds them, as `serve` does
    before = gc.get_freeze_count()

    async def start_and_stop() -> int:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()

    try:
        during = asyncio.run(start_and_stop())
        assert during - before > 10_000  # modules, settings, services, the routes' models
    finally:
        gc.unfreeze()  # the test process goes on collecting as before
