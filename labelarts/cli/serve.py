"""``labelarts serve``: run the API with embedded defaults."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labelarts.cli._common import local_settings, print_message
from labelarts.logs import configure_logging

if TYPE_CHECKING:
    from labelarts.config import Settings

INITIAL_CREDENTIALS = "initial-credentials.json"


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8080).")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Data folder (default ./labelarts-data).")] = None,
    import_root: Annotated[
        list[str] | None,
        typer.Option(
            help="Folder datasets may import from: PATH=PROJECT_ID[,...] or PATH=* (every "
            "project), +delete to allow delete_source there; a bare PATH is open while the "
            "install has one project. Repeatable."
        ),
    ] = None,
    export_root: Annotated[
        list[str] | None,
        typer.Option(help="Folder export tasks may write into, granted like --import-root. Repeatable."),
    ] = None,
    object_prefix: Annotated[
        list[str] | None,
        typer.Option(help="Object-store key prefix obs:// imports may name, granted like --import-root."),
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="SQLAlchemy URL (default SQLite).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Worker processes that run tasks (default 1; 0: run `labelarts worker`)."),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(help="URL clients reach the server at behind a proxy (signed URLs, token catalog)."),
    ] = None,
    api_processes: Annotated[
        int | None,
        typer.Option(min=1, max=64, help="API server processes on the port (default 1; about one per core)."),
    ] = None,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Ray cluster's job API (http://HEAD:8265): workers run the heavy tasks there."),
    ] = None,
) -> None:
    """Run the LabelArts API server, with worker processes that run its tasks."""
    # Imported here: the web stack would slow every other command's start.
    import uvicorn

    from labelarts.api.timeouts import protocol_with_timeouts
    from labelarts.app import create_app

    settings = local_settings(
        host=host,
        port=port,
        data_dir=data_dir,
        import_roots=import_root or None,
        export_roots=export_root or None,
        object_prefixes=object_prefix or None,
        database_url=database_url,
        worker_processes=workers,
        public_url=public_url,
        api_processes=api_processes,
        ray_address=ray_address,
    )
    configure_logging(settings.log_level)
    _bootstrap(settings)
    print_message(
        f"LabelArts listening on http://{settings.host}:{settings.port} "
        f"(data in {settings.resolved_data_dir}; API docs at /docs)"
    )
    if settings.api_processes > 1:
        _serve_processes(settings)
        return
    # The app builds its services in its lifespan and closes them at shutdown: uvicorn
    # re-raises SIGTERM/SIGINT once it has stopped, so code after uvicorn.run() may never run.
    app = create_app(settings)
    # uvicorn has no read timeouts of its own: a connection that never finishes its request
    # head or body would stay open (docs/security.md, "Timeouts").
    http = protocol_with_timeouts(
        head_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
        parser=settings.http_parser,
    )
    # log_config=None: uvicorn's loggers (its access log too) go through configure_logging.
    # uvicorn's "auto" loop is uvloop when installed; "asyncio" forces the standard loop.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        http=http,
        loop=settings.event_loop,
        log_config=None,
    )


def _serve_processes(settings: Settings) -> None:
    """``--api-processes N``: uvicorn's supervisor runs N API processes on one socket.

    Each process builds the app from the environment (``labelarts.app:app_from_environment``:
    every setting given here, as its ``LABELARTS_*`` variable, as task workers get them), with
    no task workers of its own; this process starts the ``worker_processes`` task workers once.
    """
    import os

    import uvicorn

    from labelarts.worker import WorkerProcesses, worker_environment

    os.environ.update(worker_environment(settings))
    os.environ["LABELARTS_API_PROCESSES"] = "1"  # each child is one API process
    os.environ["LABELARTS_WORKER_PROCESSES"] = "0"  # the task workers are started here, once
    workers = None
    if settings.worker_processes:
        workers = WorkerProcesses(settings, settings.worker_processes).start()
    try:
        uvicorn.run(
            "labelarts.app:app_from_environment",
            factory=True,
            workers=settings.api_processes,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            # The children import the protocol class; it reads its timeouts from the same variables.
            http="labelarts.api.timeouts:EnvironmentProtocol",
            loop=settings.event_loop,
            log_config=None,
        )
    finally:
        if workers is not None:
            workers.stop(settings.worker_shutdown_seconds)


def _bootstrap(settings: Settings) -> None:
    """On an empty database: create a default project and user ``admin``, and say where the keys are.

    The generated password is written once, with the access keys, to
    ``initial-credentials.json`` (mode 0600) and never printed (terminals end up in logs). It
    can only be changed: a token request with it answers 401 "expired", as Keystone does,
    until ``POST /v3/users/{user_id}/password`` or ``labelarts user set-password admin``
    replaces it (the latter also removes it from the file). The access keys work at once.
    """
    import json
    import os

    from sqlalchemy.exc import IntegrityError

    from labelarts.cli.users import open_user_service
    from labelarts.errors import BadRequestError, BusyError

    users, db = open_user_service(settings)
    try:
        if users.count_users() > 0:
            return
        password = secrets.token_urlsafe(18)
        try:
            creds = users.create_user("admin", project_id=None, password=password, must_change_password=True)
        except (BadRequestError, BusyError, IntegrityError):
            # Another instance starting on the same empty database created it a moment ago:
            # its data dir holds the credentials; this one starts without them.
            return
        user_id = users.user_id("admin")
    finally:
        db.dispose()
    path = settings.resolved_data_dir / INITIAL_CREDENTIALS
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(
            {
                "user": creds.user,
                "user_id": user_id,
                "password": password,
                "password_note": "generated; good only for changing it "
                f"(POST /v3/users/{user_id}/password or `labelarts user set-password admin`)",
                "project_id": creds.project_id,
                "access_key": creds.access_key,
                "secret_key": creds.secret_key,
            },
            fh,
            indent=2,
        )
    print_message(
        f"First start: created project {creds.project_id} and user 'admin'.\n"
        f"Their access keys and a one-time password are in {path} (readable only by you).\n"
        f"Change the password before signing in with it: labelarts --data-dir "
        f"{settings.resolved_data_dir} user set-password admin\n"
        f"More users: labelarts --data-dir {settings.resolved_data_dir} user create NAME "
        f"--project-id PID --password PW"
    )
