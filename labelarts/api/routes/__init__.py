"""One module per resource; :data:`API_ROUTERS` is every one of them, in the order the app
includes them."""

from __future__ import annotations

from fastapi import APIRouter

from labelarts.api.routes import (
    datasets,
    export_tasks,
    files,
    health,
    iam,
    import_tasks,
    labels,
    models,
    monitoring,
    processing,
    sample_edits,
    samples,
    sync,
    tasks,
    team_tasks,
    versions,
    workforces,
)

API_ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router
    for module in (
        *(health, iam, datasets, labels, samples, sample_edits, import_tasks, export_tasks, tasks, files),
        # team_tasks before workforces: /workforces/worker-tasks is not a workforce id
        *(sync, monitoring, versions, models, processing, team_tasks, workforces),
    )
)
