"""The Ray executor: tasks run on a Ray cluster as Ray jobs, and feature extraction runs there
on encoder actors (docs/deploy.md, "Ray").

Two halves, both optional (``pip install labelarts[ray]``; nothing here imports Ray until it
is used):

* :class:`RayJobs` is a worker's :class:`~labelarts.jobs.worker.HandOver`: for a claimed task
  of one of its kinds it submits ``labelarts ray-task TASK --from-owner WORKER`` as a Ray job
  through the cluster's job API. The job's driver (:func:`labelarts.worker.run_ray_task`) takes
  the task over in the database and runs the same body a local worker would. A Ray job is the
  cluster's own, so the task outlives the worker and the API instance that accepted it.
* :class:`RayFeatureBatches` is an auto-labeling job's feature stream inside that driver: the
  samples' locations (an object key, or a file below a granted root, the grant checked by the
  driver) go in batches to encoder actors, which read the files from the object store (or
  the shared folder) themselves and encode them; the weights are loaded once per actor, in
  the actor's Ray worker process, and never in the driver (:class:`RemoteEncoder` stands in
  for the model there). A batch whose actor died is retried by Ray on the restarted actor.
  Batches come back in order, so the job caches and writes exactly what a local run would.
"""

from __future__ import annotations

import logging
import secrets
import shlex
import threading
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from labelarts.jobs.runner import ClaimedTask
from labelarts.storage.located import FileLocation

log = logging.getLogger(__name__)

__all__ = ["RayFeatureBatches", "RayJob", "RayJobs", "RemoteEncoder"]

# The driver's command on the cluster: LabelArts installed in the Python of the Ray nodes.
DRIVER_COMMAND = ("python", "-m", "labelarts", "ray-task")
# Samples per encoder call: a multiple of the encoders' own batch (32), so every forward pass
# sees the same inputs as in a local run and the features are the same.
BATCH = 64
# Batches in flight per actor: one running, one waiting, so an actor never idles between two.
_AHEAD_PER_ACTOR = 2
# An actor killed (its process, or its node) is restarted, and the batch it ran is run again.
_ACTOR_RESTARTS = 4

Batch = tuple[np.ndarray, list[np.ndarray | None] | None]
"""Features of a batch (rows in input order) and, for images, each one's statistics (None
where the file could not be decoded)."""


class RayJob:
    """One submitted Ray job (:class:`~labelarts.jobs.worker.Submitted`)."""

    def __init__(self, client: Any, submission_id: str) -> None:
        self._client = client
        self.name = f"Ray job {submission_id}"
        self.submission_id = submission_id

    def ended(self) -> str | None:
        status = self._client.get_job_status(self.submission_id)
        if not status.is_terminal():
            return None
        info = self._client.get_job_info(self.submission_id)
        return f"{status.value}: {info.message or 'no message'}"

    def cancel(self) -> None:
        try:
            self._client.stop_job(self.submission_id)
        except Exception:
            log.exception("%s: stopping it failed", self.name)


class RayJobs:
    """Hand tasks of ``kinds`` to the Ray cluster whose job API (the dashboard) is at
    ``address``, as Ray jobs whose environment is ``env`` (the settings their driver needs:
    never the server secret nor the S3 keys, which the Ray nodes' own environment provides).
    """

    def __init__(
        self,
        address: str,
        kinds: Collection[str],
        env: Mapping[str, str],
        *,
        start_seconds: float = 300.0,
    ) -> None:
        self.address = address if "://" in address else f"http://{address}"
        self.kinds = frozenset(kinds)
        self.start_seconds = start_seconds
        self._env = dict(env)
        self._client: Any = None
        self._lock = threading.Lock()

    def _jobs_client(self) -> Any:
        from ray.job_submission import JobSubmissionClient

        with self._lock:
            if self._client is None:
                self._client = JobSubmissionClient(self.address)
            return self._client

    def submit(self, task: ClaimedTask, owner: str) -> RayJob:
        client = self._jobs_client()
        submission_id = f"labelarts-{task.kind}-{task.id}-{secrets.token_hex(3)}"
        client.submit_job(
            entrypoint=shlex.join([*DRIVER_COMMAND, task.id, "--from-owner", owner]),
            submission_id=submission_id,
            runtime_env={"env_vars": self._env},
            metadata={"labelarts_task_id": task.id, "labelarts_kind": task.kind},
        )
        log.info("task %s (%s) submitted to the Ray cluster as job %s", task.id, task.kind, submission_id)
        return RayJob(client, submission_id)


class _Encoder:
    """A Ray actor's state: one feature encoder, loaded when the actor starts, and the object
    store, opened from the job's settings (its ``LABELARTS_*`` environment, the node's own
    credentials), that it reads the samples' files from."""

    def __init__(self, modality: str, model: str | None, models_dir: str, threads: int | None) -> None:
        from labelarts.config import Settings
        from labelarts.ml.features.registry import open_encoder
        from labelarts.storage.objects import open_object_store
        from labelarts.storage.objects.options import S3Options

        settings = Settings()
        self._objects = open_object_store(
            settings.resolved_object_store_url, s3=S3Options.from_settings(settings)
        )
        self._modality = modality
        self._encoder: Any = open_encoder(modality, model, model_dir=Path(models_dir), threads=threads)

    def describe(self) -> tuple[str, int]:
        return self._encoder.name, int(self._encoder.dim)

    def _read(self, location: FileLocation | None) -> bytes:
        from labelarts.storage.located import read_located

        if location is None:
            return b""  # not granted: read as gone, as the local run does
        try:
            return read_located(location, self._objects)
        except OSError:
            return b""  # gone: the encoder gives a NaN row and the sample is skipped

    def encode(self, locations: list[FileLocation | None]) -> Batch:
        """What a local auto-labeling run computes for these files: features and, for
        images, the statistics of each decoded image. The files are read here, the next
        ones while the encoder's runners decode and encode the ones before."""
        files = (self._read(location) for location in locations)
        if self._modality != "image":
            return self._encoder.encode(list(files)), None
        from labelarts.ml.image_stats import image_stats

        vectors: list[np.ndarray] = []
        stats: list[np.ndarray | None] = []
        for features, decoded in self._encoder.encode_with_images_iter(files):
            vectors.append(features)
            stats.extend(None if item is None else image_stats(item[0], item[1]) for item in decoded)
        return np.concatenate(vectors), stats

    def encode_images(self, images: list[Any]) -> np.ndarray:
        """Features of decoded images (auto labeling's perturbation checks)."""
        return np.asarray(self._encoder.encode_images(images))


class RemoteEncoder:
    """The driver's stand-in for an encoder whose weights live in the actors only: its name
    and dimension, asked of an actor once, and :meth:`encode_images` run on the actors."""

    def __init__(self, pool: list[Any]) -> None:
        import ray

        self._pool = pool
        self._turn = 0
        self.name, self.dim = ray.get(pool[0].describe.remote())

    def encode_images(self, images: list[Any]) -> np.ndarray:
        import ray

        actor = self._pool[self._turn % len(self._pool)]
        self._turn += 1
        result: np.ndarray = ray.get(actor.encode_images.remote(images))
        return result


class RayFeatureBatches:
    """Feature extraction on encoder actors of the Ray cluster this process is connected to
    (``ray.init`` done: a Ray job's driver). ``actors`` 0: one per CPU of the cluster; each
    actor takes one CPU and runs its encoder on ``threads`` threads (default 1)."""

    def __init__(self, *, models_dir: Path, threads: int | None = None, actors: int = 0) -> None:
        self._models_dir = str(models_dir)
        self._threads = threads or 1
        self._actors = actors
        self._pools: dict[tuple[str, str | None], list[Any]] = {}

    def _pool(self, modality: str, model: str | None) -> list[Any]:
        import ray

        key = (modality, model)
        if key not in self._pools:
            cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
            count = self._actors or max(1, int(cpus))
            actor_class = ray.remote(_Encoder).options(
                num_cpus=1,
                max_restarts=_ACTOR_RESTARTS,
                max_task_retries=_ACTOR_RESTARTS,
                scheduling_strategy="SPREAD",
            )
            self._pools[key] = [
                actor_class.remote(modality, model, self._models_dir, self._threads) for _ in range(count)
            ]
            log.info("%d %s encoder actors on the Ray cluster", count, model or modality)
        return self._pools[key]

    def encoder(self, modality: str, model: str | None) -> RemoteEncoder:
        """The encoder as the driver sees it: no weights loaded here."""
        return RemoteEncoder(self._pool(modality, model))

    def stream(
        self, modality: str, model: str | None, locations: Iterable[FileLocation | None]
    ) -> Iterator[Batch]:
        """Read and encode the files at ``locations`` (None: not granted, read as gone) batch
        by batch on the actors; batches come back in input order, with at most two per actor
        in flight (memory stays bounded whatever the length). Only the locations travel from
        the driver, never the files."""
        import ray

        pool = self._pool(modality, model)
        pending: deque[Any] = deque()
        batch: list[FileLocation | None] = []
        turn = 0

        def send() -> None:
            nonlocal turn
            pending.append(pool[turn % len(pool)].encode.remote(list(batch)))
            turn += 1
            batch.clear()

        for location in locations:
            batch.append(location)
            if len(batch) == BATCH:
                send()
                if len(pending) >= _AHEAD_PER_ACTOR * len(pool):
                    yield ray.get(pending.popleft())
        if batch:
            send()
        while pending:
            yield ray.get(pending.popleft())

    def close(self) -> None:
        import ray

        for actors in self._pools.values():
            for actor in actors:
                ray.kill(actor)
        self._pools.clear()
