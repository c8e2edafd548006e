"""One typed settings object, read from flags and ``LABELARTS_*`` environment variables.

Nothing here touches the disk at import time; :meth:`Settings.prepare` creates the data
directory when the service (or a CLI command) actually starts.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_serializer, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATA_DIR = Path("labelarts-data")
SECRET_FILE_NAME = "secret.key"


_PROJECTS = re.compile(r"\*|[A-Za-z0-9_-]{1,64}(,[A-Za-z0-9_-]{1,64})*")
DELETE_FLAG = "+delete"


@dataclass(frozen=True)
class Grant:
    """A local folder (or object-store prefix) and the projects it is open to.

    Written ``PATH``, ``PATH=*``, ``PATH=PROJECT_ID[,PROJECT_ID...]``, each optionally followed
    by ``+delete`` (``PATH=*+delete``): ``delete_source`` may then remove files there.
    ``projects`` None means every project; ``bare`` marks a ``PATH`` written without ``=``,
    open to every project only while the install has one project (docs/security.md).
    """

    path: str
    projects: frozenset[str] | None
    bare: bool = False
    delete: bool = False

    @classmethod
    def parse(cls, text: str) -> Grant:
        text = text.strip()
        path, eq, spec = text.rpartition("=")
        if not eq:
            return cls(text, None, bare=True)
        delete = spec.endswith(DELETE_FLAG)
        if delete:
            spec = spec[: -len(DELETE_FLAG)]
        if not path or not _PROJECTS.fullmatch(spec):
            raise ValueError(
                f"invalid grant {text!r}: expected PATH=* or PATH=PROJECT_ID[,PROJECT_ID...], "
                "optionally followed by +delete"
            )
        return cls(path, None if spec == "*" else frozenset(spec.split(",")), delete=delete)

    @property
    def text(self) -> str:
        """The grant as written (``Grant.parse(g.text) == g``): settings dump it so."""
        if self.bare:
            return self.path
        projects = "*" if self.projects is None else ",".join(sorted(self.projects))
        return f"{self.path}={projects}{DELETE_FLAG if self.delete else ''}"

    def opens_to(self, project_id: str, *, single_project: bool) -> bool:
        if self.bare:
            return single_project
        return self.projects is None or project_id in self.projects


class Settings(BaseSettings):
    """Every LabelArts setting; each maps to ``LABELARTS_<FIELD>`` (docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="LABELARTS_", extra="ignore")

    data_dir: Path = Field(
        default=DEFAULT_DATA_DIR,
        description="Folder for the SQLite database, the local object store and the server secret.",
    )
    host: str = Field(default="127.0.0.1", description="Interface `serve` binds to.")
    port: int = Field(default=8080, ge=0, le=65535, description="Port `serve` listens on.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/labelarts.db. "
        "PostgreSQL: postgresql+psycopg://user@host/db.",
    )
    db_pool_size: int = Field(
        default=10,
        ge=0,
        le=1000,
        description="PostgreSQL connections each process keeps open; 0: no pool (a connection per "
        "unit of work), for PgBouncer doing the pooling.",
    )
    db_max_overflow: int = Field(
        default=20, ge=0, le=1000, description="Extra PostgreSQL connections a process may open under load."
    )
    db_pool_timeout_seconds: float = Field(
        default=30.0, gt=0, description="How long a unit of work waits for a pooled connection."
    )
    db_pool_recycle_seconds: int = Field(
        default=-1,
        ge=-1,
        description="Reopen pooled connections older than this (-1: never); below a proxy's or "
        "firewall's idle timeout.",
    )
    db_pgbouncer: bool = Field(
        default=False,
        description="PgBouncer in transaction pooling mode sits in front of PostgreSQL: no "
        "server-side prepared statements.",
    )
    object_store_url: str | None = Field(
        default=None,
        description="The object store: file://FOLDER (default file://<data_dir>/objects), "
        "s3://BUCKET[/PREFIX] (an S3-compatible server, see the s3_* settings) or another fsspec URL.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint of the S3-compatible server of an s3:// object store "
        "(http(s)://host[:port]); default AWS S3 of s3_region.",
    )
    s3_region: str = Field(default="us-east-1", description="Region the S3 requests are signed for.")
    s3_addressing_style: Literal["auto", "path", "virtual"] = Field(
        default="auto",
        description="path (https://host/bucket/key: MinIO, Ceph, most on-premises servers), "
        "virtual (https://bucket.host/key) or auto (botocore chooses).",
    )
    s3_access_key_id: str | None = Field(
        default=None,
        description="S3 access key; unset: botocore's chain (AWS_ACCESS_KEY_ID, ~/.aws, instance role).",
    )
    s3_secret_access_key: SecretStr | None = Field(
        default=None, description="S3 secret key (never logged; environment only)."
    )
    s3_session_token: SecretStr | None = Field(
        default=None, description="S3 session token of temporary credentials, if any."
    )
    s3_presign: bool = Field(
        default=False,
        description="Sample source URLs of originals in an s3:// store are S3 pre-signed GET URLs "
        "(the bytes do not pass through LabelArts); thumbnails still come from /files.",
    )
    s3_presign_endpoint_url: str | None = Field(
        default=None,
        description="Endpoint pre-signed S3 URLs are made for, when clients reach the S3 server "
        "at another address than LabelArts does; default s3_endpoint_url.",
    )
    s3_page_size: int = Field(
        default=1000,
        ge=1,
        le=1000,
        description="Keys per S3 listing request; listings are streamed one page at a time.",
    )
    import_roots: Annotated[list[Grant], NoDecode] = Field(
        default_factory=list,
        description="Local folders datasets may import from, each granted to projects: "
        "PATH=PROJECT_ID[,PROJECT_ID...] or PATH=* (every project), with +delete to let "
        "delete_source remove files there; a bare PATH is open to every project only while one "
        "project exists (repeatable --import-root; env: JSON list or os.pathsep-separated).",
    )
    export_roots: Annotated[list[Grant], NoDecode] = Field(
        default_factory=list,
        description="Local folders export tasks may write into, each granted to projects like "
        "import roots (PATH=PROJECT_ID[,...] or PATH=*; repeatable --export-root).",
    )
    object_prefixes: Annotated[list[Grant], NoDecode] = Field(
        default_factory=list,
        description="Object-store key prefixes that obs:// and s3:// data sources may name, "
        "granted like import roots (PREFIX=PROJECT_ID,... or PREFIX=*; '/' is the whole store).",
    )
    thumbnail_cache_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=0,
        description="Size quota of the cache of rendered x-image-process results (thumbnails); "
        "the least recently used are evicted beyond it.",
    )
    secret_key: str | None = Field(
        default=None,
        description="Server secret that encrypts stored secret keys and signs URLs. Default: "
        "generated once into <data_dir>/secret.key. Set it explicitly (same value on every "
        "instance) when several API instances share one database.",
    )
    token_ttl_seconds: int = Field(default=86_400, ge=60, description="IAM token lifetime.")
    invitation_ttl_seconds: int = Field(
        default=7 * 86_400,
        ge=60,
        description="How long a team member's invitation link can be used (once).",
    )
    max_workforces_per_project: int = Field(
        default=10, ge=1, description="Labeling teams one project may have (400 above)."
    )
    max_workers_per_workforce: int = Field(
        default=100, ge=1, description="Members one labeling team may have (400 above)."
    )
    smtp_host: str | None = Field(
        default=None,
        description="SMTP server that sends notify and invitation mail. Unset: mail waits in the "
        "outbox (`labelarts outbox list|export`).",
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    smtp_security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls",
        description="starttls (STARTTLS after connecting), ssl (TLS from the start, usually port "
        "465) or none (plain; only for a relay on loopback or a trusted network).",
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if the server needs one.")
    smtp_password: str | None = Field(default=None, description="SMTP password for smtp_username.")
    smtp_from: str = Field(
        default="labelarts@localhost", description="The From address of the mail LabelArts sends."
    )
    smtp_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of each SMTP connection and command."
    )
    smtp_max_attempts: int = Field(
        default=4,
        ge=1,
        description="Tries per message (the first and three retries) before it is marked failed; "
        "a permanent refusal (5xx) fails it at once.",
    )
    smtp_retry_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Wait before the first retry of a message; doubled before each next one.",
    )
    notify_interval_seconds: int = Field(
        default=60,
        ge=0,
        description="Least time between two notify mails to one member about one task "
        "(a faster one fails for that member with ModelArts.4627).",
    )
    sign_in_max_failures_per_user: int = Field(
        default=10,
        ge=1,
        description="Wrong passwords per user name within sign_in_window_seconds before password "
        "checks for that name answer 429 (sign-in and password change).",
    )
    sign_in_max_failures_per_address: int = Field(
        default=50,
        ge=1,
        description="Wrong passwords from one client address within sign_in_window_seconds "
        "before password checks from it answer 429.",
    )
    sign_in_window_seconds: int = Field(
        default=900, ge=1, description="Sliding window of the sign-in limits."
    )
    presign_ttl_seconds: int = Field(
        default=3600, ge=1, description="Lifetime of pre-signed sample source URLs."
    )
    signature_window_seconds: int = Field(
        default=900, ge=1, description="Allowed X-Sdk-Date clock skew, either direction."
    )
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body accepted on routes that take no uploads (413 above).",
    )
    max_upload_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Largest request body of the routes that take uploads or large batches "
        "(adding samples with base64 data, updating samples' labels).",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="`serve` closes a connection whose request head (request line and headers) "
        "is not complete this many seconds after the connection opened or its last answer.",
    )
    body_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="`serve` closes a connection whose request body has not fully arrived this "
        "many seconds after its head (the largest upload must fit in it).",
    )
    http_parser: Literal["auto", "httptools", "h11"] = Field(
        default="auto",
        description="HTTP/1.1 parser of `serve`: httptools (C; `auto` picks it when installed, "
        "as it is with LabelArts' dependencies) or h11 (pure Python, about three times the CPU "
        "per request). Both enforce the head and body timeouts.",
    )
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        default="auto",
        description="Event loop of `serve`: uvloop (`auto` picks it when installed) or asyncio.",
    )
    job_workers: int = Field(
        default=3,
        ge=1,
        description="Tasks one worker runs at once; one project may hold all but one of them "
        "(with 1, one), so another project's task never waits for a whole queue.",
    )
    api_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="API server processes `serve` runs on the one port (uvicorn's workers). "
        "Each answers requests on its own core; state they share lives in the database. Use "
        "about one per core for many concurrent reviewers (docs/benchmarks.md).",
    )
    worker_processes: int = Field(
        default=1,
        ge=0,
        description="Worker processes `serve` starts beside the API to run tasks (restarted if "
        "they die). 0: none; run `labelarts worker` yourself, here or on another machine.",
    )
    task_lease_seconds: float = Field(
        default=30.0,
        ge=1.0,
        le=3600.0,
        description="How long a worker's claim on a running task holds without a heartbeat "
        "(sent every third of it); a task whose worker died ends FAILED this long after.",
    )
    worker_poll_seconds: float = Field(
        default=0.5,
        gt=0.0,
        le=3600.0,
        description="How often a worker looks for queued tasks when nothing wakes it. Workers "
        "`serve` starts, and workers in the API process, are woken as each task is queued; a "
        "`labelarts worker` started on its own finds tasks by this poll.",
    )
    worker_shutdown_seconds: float = Field(
        default=10.0,
        ge=0.0,
        le=3600.0,
        description="On shutdown, how long a worker waits for running tasks to stop at their "
        "next progress report (they end STOPPED); later ones are left to lease recovery.",
    )
    ray_address: str | None = Field(
        default=None,
        description="A Ray cluster's dashboard address (http://HEAD:8265): workers submit the "
        "tasks of ray_task_kinds to it as Ray jobs instead of running them (docs/deploy.md). "
        "Default: none, tasks run in the worker.",
    )
    ray_task_kinds: Annotated[list[str], NoDecode] = Field(
        default=["auto-label", "processor"],
        description="Task kinds a worker with ray_address hands to the Ray cluster "
        "(comma-separated): auto labeling (with pre-labeling and auto grouping) and processing "
        "by default; the others run in the worker.",
    )
    ray_encoders: int = Field(
        default=0,
        ge=0,
        description="Feature-encoder actors a Ray job starts (one CPU each, spread over the "
        "nodes); 0: one per CPU of the cluster.",
    )
    log_level: str = Field(
        default="info",
        description="Log level (debug, info, warning, error); every line carries the request id.",
    )
    public_url: str | None = Field(
        default=None,
        description="The URL clients reach the server at, behind a proxy (https://host[:port][/prefix]): "
        "the base of pre-signed source URLs and of the IAM token catalog. Default: the request's own "
        "base URL.",
    )
    metrics_enabled: bool = Field(default=True, description="Serve Prometheus metrics at GET /metrics.")
    metrics_token: str | None = Field(
        default=None,
        description="If set, GET /metrics requires Authorization: Bearer <this token>; default open "
        "(aggregate counts only).",
    )
    import_processes: int | None = Field(
        default=None,
        ge=0,
        description="Worker processes that read and check files (content, hash, image header and "
        "decode) during a large import of local files, beside the process that writes samples. "
        "Default: one per core where there are at least two; 0: check in the importing process.",
    )
    import_pool_min_files: int = Field(
        default=2000,
        ge=0,
        description="Files an import must hold (or have seen) before it starts the "
        "import_processes: a small import does not pay for starting them.",
    )
    models_dir: Path | None = Field(
        default=None,
        description="Where exported ONNX models are kept (written once, on first use); "
        "default <data_dir>/models. Share it between instances to export only once.",
    )
    ml_threads: int | None = Field(
        default=None, ge=1, description="CPU threads for feature extraction; default all cores."
    )
    autolabel_augment_budget: int = Field(
        default=200,
        ge=0,
        description="Most samples per auto-labeling task whose predictions are re-checked under "
        "the 11 image perturbations (hard reasons 19-29); the least certain go first.",
    )
    autolabel_augment_signal: bool = Field(
        default=False,
        description="Also perturb up to autolabel_augment_budget labeled images (mirror, crop, "
        "shift), so the estimated probability that an auto label is wrong (hard reason 1) adds "
        "the disagreement under augmentation to confidence and neighbours; off by default "
        "(docs/autolabel-quality.md: measured).",
    )
    autolabel_memmap_bytes: int = Field(
        default=1 << 30,
        ge=0,
        description="Largest feature matrix (rows x dimensions x 4 bytes) an auto-labeling task "
        "holds in memory; a larger one is memory-mapped from a temporary file in <data_dir>/tmp.",
    )

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("public_url must be http(s)://host[:port][/prefix], without query or fragment")
        return value.rstrip("/")

    @field_validator("s3_endpoint_url", "s3_presign_endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("an S3 endpoint must be http(s)://host[:port], without query or fragment")
        return value.rstrip("/")

    @field_validator("ray_task_kinds", mode="before")
    @classmethod
    def _parse_kinds(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [kind.strip() for kind in text.split(",") if kind.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        if value.strip().lower() not in ("debug", "info", "warning", "error", "critical"):
            raise ValueError("log_level must be debug, info, warning, error or critical")
        return value.strip().lower()

    @field_validator("import_roots", "export_roots", "object_prefixes", mode="before")
    @classmethod
    def _parse_grants(cls, value: object) -> object:
        # Env: a JSON list, or an os.pathsep-separated string; flags and code: a list.
        if isinstance(value, str):
            text = value.strip()
            items: object = json.loads(text) if text.startswith("[") else text.split(os.pathsep)
        else:
            items = value
        if not isinstance(items, list | tuple):
            raise ValueError("expected a list of PATH[=PROJECTS] grants")
        return [
            item if isinstance(item, Grant | dict) else Grant.parse(os.fspath(item))
            for item in items
            if not isinstance(item, str | os.PathLike) or os.fspath(item).strip()
        ]

    @field_serializer("import_roots", "export_roots", "object_prefixes")
    def _dump_grants(self, grants: list[Grant]) -> list[str]:
        # Dumped as written, so settings round-trip (serve hands them to workers as env vars).
        return [grant.text for grant in grants]

    @property
    def resolved_import_processes(self) -> int:
        if self.import_processes is not None:
            return self.import_processes
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return cpus if cpus >= 2 else 0

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'labelarts.db'}"

    @property
    def resolved_object_store_url(self) -> str:
        if self.object_store_url:
            return self.object_store_url
        return f"file://{self.resolved_data_dir / 'objects'}"

    @property
    def resolved_models_dir(self) -> Path:
        if self.models_dir is not None:
            return self.models_dir.expanduser().resolve()
        return self.resolved_data_dir / "models"

    def environment(self, *, secrets: bool = True) -> dict[str, str]:
        """Every setting given to this process (flags and environment), each as its
        ``LABELARTS_*`` variable, and the data dir: what another process needs to act as this
        one. The server secret never (it reads the data dir's, or its own environment's);
        with ``secrets=False`` no other secret either (the S3 keys)."""
        env: dict[str, str] = {}
        for name in sorted(self.model_fields_set - {"secret_key"}):
            value = getattr(self, name)
            if isinstance(value, SecretStr) and not secrets:
                continue
            env[f"LABELARTS_{name.upper()}"] = _env_value(value)
        env["LABELARTS_DATA_DIR"] = str(self.resolved_data_dir)
        return env

    def prepare(self) -> None:
        """Create the data dir and make sure a server secret exists."""
        self.resolved_data_dir.mkdir(parents=True, exist_ok=True)
        if self.secret_key is None:
            self.secret_key = _load_or_create_secret(self.resolved_data_dir / SECRET_FILE_NAME)

    def require_secret(self) -> bytes:
        if self.secret_key is None:
            self.prepare()
        assert self.secret_key is not None
        return self.secret_key.encode()


def _load_or_create_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _env_value(value: object) -> str:
    if isinstance(value, list | tuple):
        return json.dumps([item.text if isinstance(item, Grant) else str(item) for item in value])
    if isinstance(value, SecretStr):  # the child needs the value itself, not "**********"
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)
