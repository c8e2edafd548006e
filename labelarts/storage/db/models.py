"""Tables. Times are epoch milliseconds (ModelArts' ``Long`` timestamps)."""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    create_time: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (Index("uq_users_email", "email", unique=True),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    create_time: Mapped[int] = mapped_column(BigInteger)
    # A generated first password (the first-start admin's): good for changing it, not for a token.
    password_must_change: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Lower-case; set for team members (their account name is the same address). Unique.
    email: Mapped[str | None] = mapped_column(String(254), nullable=True)


class ProjectMember(Base):
    """A user's role in a project: ``owner`` (the project's own users: everything, as before
    team labeling) or ``member`` (a team member: only the team routes, only their own work).

    A user's home project (``users.project_id``) has a row too; a member invited into a
    second project gets a second row and chooses the project when signing in."""

    __tablename__ = "project_members"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    create_time: Mapped[int] = mapped_column(BigInteger)


class SignInFailure(Base):
    """A failed (or, while it is being checked, pending) password check, for rate limiting.

    ``key_hash`` is the SHA-256 of ``user:<name>`` or ``address:<client ip>``: the names
    people typed are not kept. Rows older than the window are deleted as new ones come.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_key_at", "key_hash", "at_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    at_ms: Mapped[int] = mapped_column(BigInteger, index=True)


class AccessKey(Base):
    __tablename__ = "access_keys"

    access_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The secret key encrypted with the server secret (Fernet): HMAC verification needs
    # the plain key, so it cannot be hashed; it is never logged or returned after creation.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    create_time: Mapped[int] = mapped_column(BigInteger)


class Token(Base):
    __tablename__ = "tokens"

    # SHA-256 of the token: a leaked database does not leak usable tokens.
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(32))
    issued_at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_dataset_project_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    dataset_type: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(256), default="")
    data_format: Mapped[str] = mapped_column(String(32), default="Default")
    data_sources: Mapped[list[Any]] = mapped_column(default=list)
    work_path: Mapped[str] = mapped_column(String(700))
    work_path_type: Mapped[int] = mapped_column(Integer, default=0)
    workspace_id: Mapped[str] = mapped_column(String(64), default="0")
    import_annotations: Mapped[bool] = mapped_column(Boolean, default=True)
    import_data: Mapped[bool] = mapped_column(Boolean, default=False)
    managed: Mapped[bool] = mapped_column(Boolean, default=False)
    label_format: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    schema: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[int] = mapped_column(Integer, default=0)
    import_task_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    current_version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    next_version_num: Mapped[int] = mapped_column(Integer, default=1)
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)
    data_update_time: Mapped[int] = mapped_column(BigInteger)
    # Bumped in the same transaction as every change to the dataset's samples or labels;
    # caches of list pages and counts are keyed by it.
    data_version: Mapped[int] = mapped_column(BigInteger, default=0)


class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("dataset_id", "name", name="uq_label_dataset_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(1024))
    type: Mapped[int] = mapped_column(Integer)
    property: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attributes: Mapped[list[Any]] = mapped_column(default=list)


class Sample(Base):
    """One file of a dataset.

    The list screen filters and sorts on these columns, so each common filter has an index
    that ends in the sort key ``(sample_time, id)`` (or ``(top_score, id)``): SQLite and
    PostgreSQL can then read one page straight off the index, however deep.
    """

    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("dataset_id", "source_key", name="uq_sample_dataset_source"),
        # hard_coefficient after the key: a coefficient search condition is checked in the
        # index, not on the row of every walked sample (most samples have none: NULL, 1 byte).
        Index("ix_samples_dataset_time", "dataset_id", "sample_time", "id", "hard_coefficient"),
        Index(
            "ix_samples_dataset_status_time",
            "dataset_id",
            "sample_status",
            "sample_time",
            "id",
            "hard_coefficient",
        ),
        Index("ix_samples_dataset_hard_time", "dataset_id", "hard", "sample_time", "id"),
        # sample_status after the key: the auto list's score filters read it from the index.
        Index("ix_samples_dataset_score", "dataset_id", "top_score", "id", "sample_status"),
        Index("ix_samples_dataset_hash", "dataset_id", "content_hash"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    sample_type: Mapped[int] = mapped_column(Integer, default=0)
    # UN_ANNOTATION, MANUAL_ANNOTATION or AUTO_ANNOTATION
    sample_status: Mapped[str] = mapped_column(String(32), default="UN_ANNOTATION")
    sample_name: Mapped[str] = mapped_column(String(1024), default="")
    sample_dir: Mapped[str] = mapped_column(String(1024), default="")
    # "object": source_key is a key in the object store; "local": an absolute path under an
    # import root, read in place.
    source_kind: Mapped[str] = mapped_column(String(16), default="object")
    source_key: Mapped[str] = mapped_column(String(2048))
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sample_size: Mapped[int] = mapped_column(BigInteger, default=0)
    sample_time: Mapped[int] = mapped_column(BigInteger)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    hard: Mapped[bool] = mapped_column(Boolean, default=False)
    hard_coefficient: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The highest label score of the sample (None when no label has a score).
    top_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    import_origin: Mapped[str | None] = mapped_column(String(64), nullable=True)
    labeler: Mapped[str | None] = mapped_column(String(256), nullable=True)
    parent_sample_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Bumped with every change to the sample's labels or status: a background writer (auto
    # labeling) compares it to what it read and leaves samples a person changed meanwhile alone.
    revision: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # A text sample's text, cut to records.SAMPLE_DATA_MAX_CHARS (the API's sample_data), so
    # the list answers it without reading files; NULL for other samples.
    text: Mapped[str | None] = mapped_column(Text, nullable=True)


class SampleLabel(Base):
    __tablename__ = "sample_labels"
    __table_args__ = (
        Index("ix_sample_labels_dataset_name_sample", "dataset_id", "name", "sample_id"),
        # A label's samples in score order: the page of a label name and score range filter.
        Index(
            "ix_sample_labels_dataset_name_sample_score",
            "dataset_id",
            "name",
            "sample_top_score",
            "sample_id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    dataset_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(1024))
    type: Mapped[int] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    property: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # "human" or "auto" (the API's values; a manifest's agents are mapped on import, 0005).
    annotated_by: Mapped[str] = mapped_column(String(128), default="human")
    # A copy of the sample's ``top_score`` (the label and score list reads it): whoever inserts
    # a label row gives it (records.top_score_of), and a trigger carries each later change of
    # the sample's score to its label rows (migration 0020).
    sample_top_score: Mapped[float | None] = mapped_column(Float, nullable=True)


class DatasetSampleCount(Base):
    """How many of a dataset's samples have a status and hard flag: maintained in the same
    transaction as every change (:mod:`labelarts.storage.db.counters`), never recounted."""

    __tablename__ = "dataset_sample_counts"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    sample_status: Mapped[str] = mapped_column(String(32), primary_key=True)
    hard: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger, default=0)


class DatasetLabelCount(Base):
    """Per dataset, label name and sample status: ``samples`` carrying the label at least once
    and the label ``instances`` on them. Maintained like :class:`DatasetSampleCount`."""

    __tablename__ = "dataset_label_counts"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(1024), primary_key=True)
    sample_status: Mapped[str] = mapped_column(String(32), primary_key=True)
    samples: Mapped[int] = mapped_column(BigInteger, default=0)
    instances: Mapped[int] = mapped_column(BigInteger, default=0)


class Task(Base):
    """Background work (import, auto labeling, export). Its status moves only through
    :mod:`labelarts.jobs.states`."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(32), index=True)
    # NULL for a run that reads no dataset (processing a granted folder or prefix).
    dataset_id: Mapped[str | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), index=True, nullable=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_msg: Mapped[str | None] = mapped_column(Text, nullable=True)
    create_time: Mapped[int] = mapped_column(BigInteger)
    start_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    end_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    update_time: Mapped[int] = mapped_column(BigInteger)
    # The process that runs the task and until when (epoch ms) its claim holds; progress
    # reports renew it. Only a task whose lease ran out may be recovered by another process.
    owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class SampleFeature(Base):
    """A sample's feature vector under one encoder (auto labeling's cache: a second task only
    encodes the samples it has not seen). ``stats`` holds image statistics for hard examples."""

    __tablename__ = "sample_features"

    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), primary_key=True)
    encoder: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(32), index=True)
    # float16, little-endian, ``dim`` values; NULL when the file could not be decoded.
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    stats: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    create_time: Mapped[int] = mapped_column(BigInteger)


class DatasetMetricPoint(Base):
    """A dataset's monitoring figures at one moment (``GET .../metrics``): sample counts by
    status and its tasks by state, written when one of its tasks ends, at most one per hour
    (a later one replaces the hour's earlier point)."""

    __tablename__ = "dataset_metric_points"
    __table_args__ = (Index("ix_dataset_metric_points_dataset_at", "dataset_id", "at_ms"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    # Series name -> value (docs/api.md, "Dataset monitoring").
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DatasetVersion(Base):
    """A published version: its settings, its state and the statistics of what it froze.

    ``status`` is the reference's: 0 creating (the publish task is queued or running),
    1 normal (the reference's "running"), 4 error (publishing failed or was stopped).
    ``stats`` holds the figures the answer shows (counts, ``label_stats``, per split).
    """

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "name", name="uq_dataset_version_name"),
        Index("ix_dataset_versions_dataset_time", "dataset_id", "create_time"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(32))
    status: Mapped[int] = mapped_column(Integer, default=0)
    version_format: Mapped[str] = mapped_column(String(16), default="Default")
    description: Mapped[str] = mapped_column(String(256), default="")
    # As the request gave it ("0.8"); ``train_ratio`` is its value.
    train_evaluate_sample_ratio: Mapped[str] = mapped_column(String(16), default="1.00")
    train_ratio: Mapped[float] = mapped_column(Float, default=1.0)
    # The split's seed: the same frozen samples, ratio and seed give the same split.
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    clear_hard_property: Mapped[bool] = mapped_column(Boolean, default=True)
    export_images: Mapped[bool] = mapped_column(Boolean, default=False)
    remove_sample_usage: Mapped[bool] = mapped_column(Boolean, default=True)
    with_column_header: Mapped[bool] = mapped_column(Boolean, default=True)
    sample_state: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dataset_type: Mapped[int] = mapped_column(Integer)
    previous_version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    task_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Object-store keys of what publishing wrote (None until written).
    manifest_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    csv_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)


class VersionSample(Base):
    """A sample as a version froze it: a copy, so that later edits, deletions and syncs of the
    live sample change nothing here. ``position`` numbers the version's samples by sample id;
    ``stratum`` is the label the split stratified on, ``usage`` TRAIN or EVAL (None: no labels)."""

    __tablename__ = "version_samples"
    __table_args__ = (Index("ix_version_samples_version_time", "version_id", "sample_time", "sample_id"),)

    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    sample_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger)
    sample_type: Mapped[int] = mapped_column(Integer)
    sample_status: Mapped[str] = mapped_column(String(32))
    sample_name: Mapped[str] = mapped_column(String(1024))
    sample_dir: Mapped[str] = mapped_column(String(1024))
    source_kind: Mapped[str] = mapped_column(String(16))
    source_key: Mapped[str] = mapped_column(String(2048))
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sample_size: Mapped[int] = mapped_column(BigInteger)
    sample_time: Mapped[int] = mapped_column(BigInteger)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    hard: Mapped[bool] = mapped_column(Boolean, default=False)
    hard_coefficient: Mapped[float | None] = mapped_column(Float, nullable=True)
    top_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    import_origin: Mapped[str | None] = mapped_column(String(64), nullable=True)
    labeler: Mapped[str | None] = mapped_column(String(256), nullable=True)
    text: Mapped[str | None] = mapped_column(Text, nullable=True)
    stratum: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    usage: Mapped[str | None] = mapped_column(String(16), nullable=True)


class VersionLabel(Base):
    """A label of a frozen sample (a copy of its ``sample_labels`` row when published)."""

    __tablename__ = "version_labels"
    __table_args__ = (
        Index("ix_version_labels_version_sample", "version_id", "sample_id"),
        Index("ix_version_labels_version_name", "version_id", "name"),
    )

    version_id: Mapped[str] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    # The live label row's id, answered as the label's ``id`` (as the live list does).
    label_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sample_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(1024))
    type: Mapped[int] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    property: Mapped[dict[str, Any]] = mapped_column(default=dict)
    annotated_by: Mapped[str] = mapped_column(String(128), default="human")


class RegisteredModel(Base):
    """A user's ONNX model for pre-labeling (docs/model-registry.md); the file is in the object
    store under ``object_key``. ``spec`` holds what the owner declared (kind, labels, input size,
    layout, normalisation) and what the import found (input and output names)."""

    __tablename__ = "models"
    __table_args__ = (
        UniqueConstraint("project_id", "name", "version", name="uq_model_project_name_version"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(256), default="")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    object_key: Mapped[str] = mapped_column(String(256))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    create_time: Mapped[int] = mapped_column(BigInteger)


class Workforce(Base):
    """A labeling team of a project (ModelArts' Workforce)."""

    __tablename__ = "workforces"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_workforce_project_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(256), default="")
    workspace_id: Mapped[str] = mapped_column(String(64), default="0")
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)


class Worker(Base):
    """A team member (ModelArts' Worker), identified by email within its team.

    ``role``: 0 labeler, 1 reviewer, 2 team administrator. ``status``: 0 not invited,
    1 invited, 2 has signed in, 3 deleted. A deleted worker keeps its row (assignments of team
    tasks point at it) and leaves the lists; its email may join the team again as a new worker.
    The account that acts as this worker is the user whose ``email`` is the same address and
    who is a member of ``project_id``."""

    __tablename__ = "workers"
    __table_args__ = (
        Index(
            "uq_workers_live_email",
            "workforce_id",
            "email",
            unique=True,
            sqlite_where=text("status != 3"),
            postgresql_where=text("status != 3"),
        ),
        Index("ix_workers_project_email", "project_id", "email"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workforce_id: Mapped[str] = mapped_column(ForeignKey("workforces.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(String(256), default="")
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)


class Invitation(Base):
    """An invitation link's token (SHA-256 only): whoever opens it before ``expires_at`` sets a
    password and becomes a member of ``project_id`` with account name ``email``."""

    __tablename__ = "invitations"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    create_time: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[int] = mapped_column(BigInteger)
    used_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class OutboxMessage(Base):
    """A mail LabelArts wants to send (notify, invitations).

    ``state``: ``queued`` (waiting: no SMTP configured, or until ``next_attempt_at``),
    ``sent``, ``failed`` (permanently refused or out of attempts). ``email_status`` is
    ModelArts' value for the recipient: 0 not sent, 1 bad address format, 2 unreachable, 3 sent.
    ``task_id`` / ``worker_id`` tie a notify mail to a team task's member."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_outbox_task_worker", "task_id", "worker_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(256))
    body: Mapped[str] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    email_status: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_attempt_at: Mapped[int] = mapped_column(BigInteger)
    create_time: Mapped[int] = mapped_column(BigInteger)
    sent_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ProcessorTask(Base):
    """A data-processing task (ModelArts group E; docs/processing.md). ``template_id`` is one
    of the ``sys_data_*`` templates; ``sys_data_analyse`` runs once (``job_id``, ``result``),
    the others run in :class:`ProcessorTaskVersion`\\ s. ``inputs``, ``data_source``,
    ``work_path`` and ``template`` are the request's, normalised, as the answers echo them;
    ``dataset_id`` is the dataset the input reads in the end (a TASK input's, too)."""

    __tablename__ = "processor_tasks"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_processor_task_project_name"),
        Index("ix_processor_tasks_project_time", "project_id", "create_time"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(256), default="")
    template_id: Mapped[str] = mapped_column(String(64))
    template: Mapped[dict[str, Any]] = mapped_column(default=dict)
    inputs: Mapped[list[Any]] = mapped_column(default=list)
    data_source: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    work_path: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    source_type: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(2048))
    dataset_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    # The input dataset version (None: the live samples).
    version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    workspace_id: Mapped[str] = mapped_column(String(64), default="0")
    # Feature analysis: its jobs task and what it found.
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    next_version_num: Mapped[int] = mapped_column(Integer, default=1)
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)


class ProcessorTaskVersion(Base):
    """One run of a processing task: a ``tasks`` row of kind ``processor`` (``job_id``) whose
    status the answers map to 0-4; ``stats`` holds the result counts, ``output_version_id``
    the dataset version a ``work_path`` of type DATASET received."""

    __tablename__ = "processor_task_versions"
    __table_args__ = (
        UniqueConstraint("task_id", "version_name", name="uq_processor_version_name"),
        Index("ix_processor_versions_task_time", "task_id", "create_time"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("processor_tasks.id", ondelete="CASCADE"))
    project_id: Mapped[str] = mapped_column(String(32))
    version_name: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(String(256), default="")
    job_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    inputs: Mapped[list[Any]] = mapped_column(default=list)
    work_path: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    template: Mapped[dict[str, Any]] = mapped_column(default=dict)
    output_prefix: Mapped[str] = mapped_column(String(1024))
    output_version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)


class ProcessorResult(Base):
    """What a processing version did to one sample (``seq``: inputs first, in input order,
    then added samples). ``out_*`` describe the output sample (None when deleted): its file
    (the input's own for an unmodified sample) and its labels as ``version_labels`` hold them."""

    __tablename__ = "processor_results"
    __table_args__ = (Index("ix_processor_results_version_property", "version_id", "result_property", "seq"),)

    version_id: Mapped[str] = mapped_column(
        ForeignKey("processor_task_versions.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sample_id: Mapped[str] = mapped_column(String(32))
    result_property: Mapped[int] = mapped_column(Integer)
    description: Mapped[list[Any]] = mapped_column(default=list)
    origin_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    origin_key: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    out_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    out_key: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    out_name: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    out_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    out_size: Mapped[int] = mapped_column(BigInteger, default=0)
    out_time: Mapped[int] = mapped_column(BigInteger, default=0)
    out_labels: Mapped[list[Any]] = mapped_column(default=list)
    out_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)


class WorkforceTask(Base):
    """A team labeling task (ModelArts "workforce task"). ``status`` is the reference's:
    6 created, 0 starting, 1 running, 7 sampling, 2 accepting, 5 synchronizing, 3 accepted,
    4 rejected (docs/team-labeling.md). Who takes part is in ``workforce_task_members``."""

    __tablename__ = "workforce_tasks"
    __table_args__ = (UniqueConstraint("dataset_id", "name", name="uq_workforce_task_dataset_name"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(32), index=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[int] = mapped_column(Integer, default=6)
    repetition: Mapped[int] = mapped_column(Integer, default=1)
    synchronize_data: Mapped[bool] = mapped_column(Boolean, default=False)
    synchronize_auto_labeling_data: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_sync_dataset: Mapped[bool] = mapped_column(Boolean, default=True)
    sample_search_conditions: Mapped[list[Any]] = mapped_column(default=list)
    # As the request named the teams and people: [{workforce_id, workforce_name, workers:[...]}].
    workforces: Mapped[list[Any]] = mapped_column(default=list)
    agency: Mapped[str | None] = mapped_column(String(256), nullable=True)
    version_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # The dealing's seed: the same samples and labelers deal the same way again.
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    checking_task_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)


class WorkforceTaskMember(Base):
    """One person taking part in a team task, as the task was configured: ``role`` 0 labeler,
    1 reviewer, 2 team administrator. ``active`` false: removed from the task (their
    unfinished work was dealt to the others). ``worker_id`` is the team member's id."""

    __tablename__ = "workforce_task_members"

    task_id: Mapped[str] = mapped_column(
        ForeignKey("workforce_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    worker_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    workforce_id: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(256), index=True)
    role: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)


class WorkforceTaskSample(Base):
    """A dataset sample in a team task. ``base_revision`` is the sample's ``revision`` when it
    joined: a later change in the dataset is what ``overwrite_last_result`` decides about.
    ``checking_task_id`` is the acceptance that drew it (None: not sampled)."""

    __tablename__ = "workforce_task_samples"

    task_id: Mapped[str] = mapped_column(
        ForeignKey("workforce_tasks.id", ondelete="CASCADE"), primary_key=True
    )
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), primary_key=True)
    dataset_id: Mapped[str] = mapped_column(String(32), index=True)
    base_revision: Mapped[int] = mapped_column(BigInteger, default=0)
    checking_task_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Set when acceptance wrote the sample to the dataset (or found a conflict).
    synced: Mapped[bool] = mapped_column(Boolean, default=False)
    conflict: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # A gold sample's known answer (the owner's): it is mixed into every labeler's queue and
    # never written to the dataset. None: an ordinary sample.
    gold_labels: Mapped[list[Any] | None] = mapped_column(JSON(none_as_null=True), nullable=True)


class WorkforceAssignment(Base):
    """One labeler's work on one sample of a team task: their own result (``labels``) and where
    it stands (``state``: ``__NONE__``, ``__AUTO_ANNOTATION__``, ``__UNREVIEWED__``,
    ``__REJECTED__``, ``__UNCHECK__``, ``__WORKFORCE_SAMPLED_UNCHECK__``,
    ``__WORKFORCE_SAMPLED_ACCEPTED__``, ``__WORKFORCE_SAMPLED_REJECTED__``, ``__ACCEPTED__``).
    Results stay here until acceptance writes them to the dataset."""

    __tablename__ = "workforce_assignments"
    __table_args__ = (
        UniqueConstraint("task_id", "sample_id", "worker_id", name="uq_workforce_assignment"),
        # A labeler's queue in list order (newest sample first) without reading the samples.
        Index("ix_workforce_assignments_queue", "task_id", "worker_id", "state", "sample_time"),
        Index("ix_workforce_assignments_task_state", "task_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("workforce_tasks.id", ondelete="CASCADE"))
    sample_id: Mapped[str] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    worker_id: Mapped[str] = mapped_column(String(32))
    # The sample's ``sample_time`` when it was dealt: the task's lists order by it, from this
    # table's index, without reading the samples (a later sync of the file does not move it).
    sample_time: Mapped[int] = mapped_column(BigInteger, server_default="0")
    state: Mapped[str] = mapped_column(String(40), default="__NONE__")
    labels: Mapped[list[Any]] = mapped_column(default=list)
    review_accept: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    review_comment: Mapped[str | None] = mapped_column(String(256), nullable=True)
    review_score: Mapped[str | None] = mapped_column(String(1), nullable=True)
    reviewer_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    check_accept: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    check_comment: Mapped[str | None] = mapped_column(String(256), nullable=True)
    check_score: Mapped[str | None] = mapped_column(String(1), nullable=True)
    checking_task_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)


class WorkforceCheckingTask(Base):
    """An acceptance ("checking task") of a team task: how it sampled, whether it is open,
    and how it closed (``action``; 2, cancelled, leaves it out of the overall report).
    ``stats`` freezes its report when it closes."""

    __tablename__ = "workforce_checking_tasks"
    __table_args__ = (Index("ix_workforce_checking_tasks_task", "task_id", "create_time"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("workforce_tasks.id", ondelete="CASCADE"))
    sampling_num: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sampling_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    seed: Mapped[int] = mapped_column(BigInteger, default=0)
    pool_size: Mapped[int] = mapped_column(Integer, default=0)
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    action: Mapped[int | None] = mapped_column(Integer, nullable=True)
    overwrite_last_result: Mapped[bool] = mapped_column(Boolean, default=False)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    create_time: Mapped[int] = mapped_column(BigInteger)
    update_time: Mapped[int] = mapped_column(BigInteger)
