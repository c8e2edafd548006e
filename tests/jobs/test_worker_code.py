"""``labelarts serve`` started in a folder that holds another ``labelarts`` package (a checkout
of another version, say) runs its task workers on its own code, not on that folder's."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from tests.cli import cli_env, free_port
from tests.jobs.test_processes import Client, wait_for
from tests.processes import logs_text, running

FILES = 5
DECOY = """
from pathlib import Path

Path(__file__).with_name("imported").write_text("the decoy labelarts package was imported")
raise SystemExit(3)
"""


def test_workers_run_the_servers_code_not_the_current_folders(tmp_path: Path, database_url: str) -> None:
    folder = tmp_path / "imports" / "images"
    folder.mkdir(parents=True)
    for i in range(FILES):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(buffer, "PNG")
        (folder / f"img{i}.png").write_bytes(buffer.getvalue())
    here = tmp_path / "checkout"
    (here / "labelarts").mkdir(parents=True)
    (here / "labelarts" / "__init__.py").write_text(DECOY)
    (here / "labelarts" / "__main__.py").write_text(DECOY)
    marker = here / "labelarts" / "imported"

    data_dir, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    env = cli_env(LABELARTS_DATABASE_URL=database_url)
    args = [
        "serve",
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
        "--import-root",
        str(tmp_path / "imports"),
    ]
    with running(args, env, log, health_url=f"http://127.0.0.1:{port}", cwd=here):
        client = Client(port, data_dir)
        created = client.create_dataset("here", folder)
        task = f"/datasets/{created['dataset_id']}/import-tasks/{created['import_task_id']}"

        def ended(body: dict[str, Any]) -> bool:
            assert not marker.exists(), f"a worker ran the current folder's labelarts\n{logs_text(log)}"
            return body["status"] not in ("QUEUING", "RUNNING")

        body = wait_for(client, task, ended, "the import")
        assert body["status"] == "COMPLETED", body
        listed = client.get(f"/datasets/{created['dataset_id']}/data-annotations/samples?limit=1")
        assert listed["sample_count"] == FILES
    assert not marker.exists()
