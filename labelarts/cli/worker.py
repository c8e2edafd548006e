"""``labelarts worker``: run queued tasks (imports, auto labeling) from the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labelarts.cli._common import local_settings
from labelarts.logs import configure_logging


def worker(
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (default ./labelarts-data).")] = None,
    import_root: Annotated[
        list[str] | None,
        typer.Option(help="Folder datasets may import from, granted as for serve --import-root; repeatable."),
    ] = None,
    export_root: Annotated[
        list[str] | None,
        typer.Option(help="Folder export tasks may write into, granted like --import-root. Repeatable."),
    ] = None,
    object_prefix: Annotated[
        list[str] | None, typer.Option(help="Object-store prefix granted as for serve --object-prefix.")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL (default SQLite).")] = None,
    tasks: Annotated[
        int | None, typer.Option(min=1, help="Tasks run at once (default LABELARTS_JOB_WORKERS, 3).")
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster's job API (http://HEAD:8265): run the heavy tasks there as Ray jobs."),
    ] = None,
    parent_pid: Annotated[int | None, typer.Option(hidden=True)] = None,
    wake_on_stdin: Annotated[bool, typer.Option(hidden=True)] = False,
) -> None:
    """Run queued tasks until SIGTERM or Ctrl-C; running tasks then stop at their next
    progress report. Start as many as you like, on any machine that reaches the database,
    the object store and the import roots, with the same secret key."""
    from labelarts.worker import run_worker

    settings = local_settings(
        data_dir=data_dir,
        import_roots=import_root or None,
        export_roots=export_root or None,
        object_prefixes=object_prefix or None,
        database_url=database_url,
        job_workers=tasks,
        ray_address=ray_address,
    )
    configure_logging(settings.log_level)  # the API's format; "[-]": no request here
    run_worker(settings, parent_pid=parent_pid, wake_on_stdin=wake_on_stdin)


def ray_task(
    task_id: Annotated[str, typer.Argument(help="The task to take over and run.")],
    from_owner: Annotated[str, typer.Option(help="The worker that claimed and submitted it.")],
) -> None:
    """The driver of a Ray job that runs one task (what a worker with --ray-address submits;
    settings come from the job's LABELARTS_* environment)."""
    from labelarts.worker import run_ray_task

    run_ray_task(local_settings(), task_id, from_owner)
