"""The service container the app factory builds once and the routes reach through deps."""

from __future__ import annotations

from dataclasses import dataclass

from labelarts.auth.crypto import SecretBox
from labelarts.auth.service import AuthService
from labelarts.config import Settings
from labelarts.jobs.executor import Executor, InProcessExecutor
from labelarts.jobs.runner import TaskRunner
from labelarts.services.autolabel import AutoLabelService
from labelarts.services.datasets import DatasetService
from labelarts.services.imports import ImportService
from labelarts.services.labels import LabelService
from labelarts.services.paths import ImportRoots
from labelarts.services.samples.edits import SampleEditService
from labelarts.services.samples.presign import SourceSigner
from labelarts.services.samples.query import SampleListService
from labelarts.services.samples.sources import LocalFiles, SampleFiles, SampleSourceService
from labelarts.services.users import UserService
from labelarts.storage.db import Database
from labelarts.storage.objects import ObjectStore, open_object_store


@dataclass
class Services:
    settings: Settings
    db: Database
    objects: ObjectStore
    executor: Executor
    tasks: TaskRunner
    auth: AuthService
    users: UserService
    datasets: DatasetService
    labels: LabelService
    imports: ImportService
    import_roots: ImportRoots
    signer: SourceSigner
    sources: SampleSourceService
    sample_edits: SampleEditService
    sample_list: SampleListService
    autolabel: AutoLabelService

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.db.dispose()


def build_services(settings: Settings, *, executor: Executor | None = None) -> Services:
    """Wire every service. Creates the data dir and migrates the database."""
    settings.prepare()
    db = Database(settings.resolved_database_url)
    db.migrate()
    box = SecretBox(settings.require_secret())
    objects = open_object_store(settings.resolved_object_store_url)
    executor = executor or InProcessExecutor(settings.job_workers)
    tasks = TaskRunner(db, executor)
    datasets = DatasetService(db)
    import_roots = ImportRoots(settings.resolved_import_roots, settings.resolved_data_dir)
    signer = SourceSigner(settings.require_secret(), settings.presign_ttl_seconds)
    local_files = LocalFiles(import_roots, settings.resolved_data_dir)
    sources = SampleSourceService(db, objects, signer, local_files)
    return Services(
        settings=settings,
        db=db,
        objects=objects,
        executor=executor,
        tasks=tasks,
        auth=AuthService(
            db,
            box,
            token_ttl_seconds=settings.token_ttl_seconds,
            signature_window_seconds=settings.signature_window_seconds,
        ),
        users=UserService(db, box),
        datasets=datasets,
        labels=LabelService(db, SampleFiles(objects, local_files)),
        imports=ImportService(db, tasks, datasets, import_roots, objects),
        import_roots=import_roots,
        signer=signer,
        sources=sources,
        sample_edits=SampleEditService(db, objects, local_files),
        sample_list=SampleListService(db),
        autolabel=AutoLabelService(db, tasks, sources, settings),
    )
