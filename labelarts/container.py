"""The service container the app factory builds once and the routes reach through deps."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from labelarts.auth.crypto import SecretBox
from labelarts.auth.limits import SignInLimiter
from labelarts.auth.service import AuthService
from labelarts.config import Settings
from labelarts.errors import LabelArtsError
from labelarts.jobs.runner import TaskRunner
from labelarts.jobs.worker import TaskHandler, Worker
from labelarts.services.autolabel import AUTO_LABEL_KIND, AutoLabelService
from labelarts.services.autolabel.job import FeatureBatches
from labelarts.services.datasets import DatasetService
from labelarts.services.exports import EXPORT_KIND, ExportService
from labelarts.services.importing.checking import CheckPoolSettings
from labelarts.services.imports import IMPORT_KIND, ImportService
from labelarts.services.labels import LabelService
from labelarts.services.members import MemberService
from labelarts.services.models import ModelService
from labelarts.services.monitoring import MonitoringService, record_point
from labelarts.services.outbox import MailSender, OutboxService
from labelarts.services.paths import Grants, project_counter
from labelarts.services.processing import PROCESSOR_KIND, ProcessingService
from labelarts.services.samples.edits import SampleEditService
from labelarts.services.samples.presign import SourceSigner
from labelarts.services.samples.query import SampleListService
from labelarts.services.samples.sources import LocalFiles, SampleFiles, SampleSourceService
from labelarts.services.samples.thumbnails import ThumbnailCache
from labelarts.services.sync import SYNC_KIND, SyncService
from labelarts.services.team import TeamAccess
from labelarts.services.team_tasks.notify import TaskNotifier
from labelarts.services.team_tasks.service import TeamTaskService
from labelarts.services.users import UserService
from labelarts.services.versions import PUBLISH_KIND, VersionService
from labelarts.services.workforces import WorkforceService
from labelarts.storage.db import Database, PoolOptions
from labelarts.storage.objects import ObjectStore, open_object_store
from labelarts.storage.objects.options import S3Options
from labelarts.storage.objects.store import Checked

log = logging.getLogger("labelarts.container")


@dataclass
class Services:
    settings: Settings
    db: Database
    objects: ObjectStore
    tasks: TaskRunner
    auth: AuthService
    users: UserService
    members: MemberService
    team: TeamAccess
    workforces: WorkforceService
    team_tasks: TeamTaskService
    datasets: DatasetService
    labels: LabelService
    imports: ImportService
    exports: ExportService
    grants: Grants
    signer: SourceSigner
    sources: SampleSourceService
    sample_edits: SampleEditService
    sample_list: SampleListService
    autolabel: AutoLabelService
    sync: SyncService
    monitoring: MonitoringService
    versions: VersionService
    models: ModelService
    processing: ProcessingService
    outbox: OutboxService
    notifier: TaskNotifier
    worker: Worker | None = None
    mail: MailSender | None = None

    @property
    def task_handlers(self) -> dict[str, TaskHandler]:
        """Task kind -> the body that runs it from the task's row (what a worker runs)."""
        return {
            IMPORT_KIND: self.imports.run_task,
            AUTO_LABEL_KIND: self.autolabel.run_task,
            SYNC_KIND: self.sync.run_task,
            PUBLISH_KIND: self.versions.run_task,
            EXPORT_KIND: self.exports.run_task,
            PROCESSOR_KIND: self.processing.run_task,
        }

    def start_worker(self) -> Worker:
        """Run queued tasks in this process, ``job_workers`` at once."""
        assert self.worker is None, "one worker per container"
        hand_over = None
        if self.settings.ray_address:
            from labelarts.jobs.ray_executor import RayJobs

            hand_over = RayJobs(
                self.settings.ray_address,
                self.settings.ray_task_kinds,
                self.settings.environment(secrets=False),
            )
        self.worker = Worker(
            self.tasks,
            self.task_handlers,
            slots=self.settings.job_workers,
            poll_seconds=self.settings.worker_poll_seconds,
            hand_over=hand_over,
        ).start()
        if self.outbox.sending:  # mail goes out beside the tasks, wherever tasks run
            self.mail = MailSender(self.outbox).start()
            self.outbox.on_queued(self.mail.wake)
        return self.worker

    def close(self) -> None:
        if self.mail is not None:
            self.mail.stop(self.settings.worker_shutdown_seconds)  # a try in progress may finish
        if self.worker is not None:
            self.worker.shutdown(self.settings.worker_shutdown_seconds)
        self.db.dispose()


def build_services(
    settings: Settings, *, run_tasks: bool = True, feature_batches: FeatureBatches | None = None
) -> Services:
    """Wire every service. Creates the data dir and migrates the database.

    ``run_tasks``: also start a worker in this process (the test fixtures and an embedded
    server); ``labelarts serve`` runs tasks in worker processes instead. ``feature_batches``:
    auto labeling extracts features there (a Ray job's encoder actors), not in this process.
    """
    settings.prepare()
    db = Database(settings.resolved_database_url, PoolOptions.from_settings(settings))
    db.migrate()
    box = SecretBox(settings.require_secret())
    objects = open_object_store(settings.resolved_object_store_url, s3=S3Options.from_settings(settings))
    if isinstance(objects, Checked):
        try:
            objects.check()
        except LabelArtsError as exc:  # requests will answer it too; say it once at start
            log.warning("object store: %s", exc.message)
    tasks = TaskRunner(db, lease_seconds=settings.task_lease_seconds)
    grants = Grants(
        settings.import_roots,
        settings.object_prefixes,
        settings.resolved_data_dir,
        count_projects=project_counter(db),
    )
    export_grants = Grants(
        settings.export_roots,
        [],
        settings.resolved_data_dir,
        count_projects=project_counter(db),
        noun="export roots",
        flag="--export-root",
    )
    sample_list = SampleListService(db, grants)
    signer = SourceSigner(settings.require_secret(), settings.presign_ttl_seconds)
    local_files = LocalFiles(grants)
    thumbnails = ThumbnailCache(objects, settings.thumbnail_cache_bytes)
    sample_files = SampleFiles(objects, local_files, grants, thumbnails)
    sources = SampleSourceService(db, objects, signer, local_files, thumbnails, presign=settings.s3_presign)
    checks = CheckPoolSettings(settings.resolved_import_processes, settings.import_pool_min_files)
    imports = ImportService(db, tasks, grants, objects, checks)
    models = ModelService(db, objects)
    sample_edits = SampleEditService(db, objects, sample_files, track_changes=sample_list.track_changes)
    workforces = WorkforceService(
        db,
        max_workforces=settings.max_workforces_per_project,
        max_workers=settings.max_workers_per_workforce,
    )
    team_tasks = TeamTaskService(db, grants, sample_edits, workforces)
    members = MemberService(db, box, invitation_ttl_seconds=settings.invitation_ttl_seconds)
    outbox = OutboxService(db, settings)
    services = Services(
        settings=settings,
        db=db,
        objects=objects,
        tasks=tasks,
        auth=AuthService(
            db,
            box,
            token_ttl_seconds=settings.token_ttl_seconds,
            signature_window_seconds=settings.signature_window_seconds,
            sign_in_limiter=SignInLimiter(
                db,
                max_per_user=settings.sign_in_max_failures_per_user,
                max_per_address=settings.sign_in_max_failures_per_address,
                window_seconds=settings.sign_in_window_seconds,
            ),
        ),
        users=UserService(db, box),
        members=members,
        team=TeamAccess(db),
        workforces=workforces,
        team_tasks=team_tasks,
        datasets=DatasetService(db, imports, objects),
        labels=LabelService(db, sample_files),
        imports=imports,
        exports=ExportService(
            db,
            tasks,
            grants,
            export_grants,
            objects,
            local_files,
            settings.resolved_data_dir / "exports",
        ),
        grants=grants,
        signer=signer,
        sources=sources,
        sample_edits=sample_edits,
        sample_list=sample_list,
        autolabel=AutoLabelService(
            db, tasks, sources, settings, models, objects, feature_batches=feature_batches
        ),
        sync=SyncService(db, tasks, grants, objects, sample_files, checks),
        monitoring=MonitoringService(db),
        versions=VersionService(db, tasks, objects, grants),
        models=models,
        processing=_processing(settings, db, tasks, objects, grants, export_grants, signer, local_files),
        outbox=outbox,
        notifier=TaskNotifier(
            db,
            outbox,
            team_tasks,
            members,
            interval_seconds=settings.notify_interval_seconds,
            public_url=settings.public_url,
        ),
    )
    tasks.on_finished(record_point)
    if run_tasks:
        services.start_worker()
    return services


def _processing(
    settings: Settings,
    db: Database,
    tasks: TaskRunner,
    objects: ObjectStore,
    grants: Grants,
    export_grants: Grants,
    signer: SourceSigner,
    local_files: LocalFiles,
) -> ProcessingService:
    from labelarts.ml.processing import get_operator
    from labelarts.services.processing.job import run_processor

    def read_local(project_id: str, path: str) -> bytes:
        with local_files.open(project_id, path) as fh:
            return fh.read()

    return ProcessingService(
        db,
        tasks,
        objects,
        grants,
        signer,
        read_local,
        get_operator,
        run_processor,
        models_dir=settings.resolved_models_dir,
        ml_threads=settings.ml_threads,
        export_grants=export_grants,
    )
