"""A worker process started by ``serve`` gets the same settings as ``serve``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labelarts.config import Settings
from labelarts.worker import worker_environment


def test_a_workers_environment_gives_it_the_servers_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("LABELARTS_")]:
        monkeypatch.delenv(name)
    roots = [f"{tmp_path}/a", f"{tmp_path}/b=*", f"{tmp_path}/c=p1,p2+delete"]
    served = Settings(
        data_dir=tmp_path / "data",
        import_roots=roots,
        database_url="sqlite:///x.db",
        job_workers=2,
        task_lease_seconds=4.5,
    )
    served.prepare()
    for name, value in worker_environment(served).items():
        if name.startswith("LABELARTS_"):
            monkeypatch.setenv(name, value)
    worker = Settings()
    assert worker.import_roots == served.import_roots
    assert (worker.database_url, worker.job_workers, worker.task_lease_seconds) == ("sqlite:///x.db", 2, 4.5)
    assert worker.resolved_data_dir == served.resolved_data_dir
    assert "LABELARTS_SECRET_KEY" not in worker_environment(served)
