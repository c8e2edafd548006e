"""dataset_versions, version_samples, version_labels: published versions and what they froze

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column(
            "dataset_id",
            sa.String(length=32),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("version_format", sa.String(length=16), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("train_evaluate_sample_ratio", sa.String(length=16), nullable=False),
        sa.Column("train_ratio", sa.Float(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("clear_hard_property", sa.Boolean(), nullable=False),
        sa.Column("export_images", sa.Boolean(), nullable=False),
        sa.Column("remove_sample_usage", sa.Boolean(), nullable=False),
        sa.Column("with_column_header", sa.Boolean(), nullable=False),
        sa.Column("sample_state", sa.String(length=64), nullable=True),
        sa.Column("dataset_type", sa.Integer(), nullable=False),
        sa.Column("previous_version_id", sa.String(length=32), nullable=True),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("manifest_key", sa.String(length=1024), nullable=True),
        sa.Column("csv_key", sa.String(length=1024), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("dataset_id", "name", name="uq_dataset_version_name"),
    )
    op.create_index("ix_dataset_versions_dataset_time", "dataset_versions", ["dataset_id", "create_time"])
    op.create_table(
        "version_samples",
        sa.Column(
            "version_id",
            sa.String(length=32),
            sa.ForeignKey("dataset_versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sample_id", sa.String(length=32), primary_key=True),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("sample_type", sa.Integer(), nullable=False),
        sa.Column("sample_status", sa.String(length=32), nullable=False),
        sa.Column("sample_name", sa.String(length=1024), nullable=False),
        sa.Column("sample_dir", sa.String(length=1024), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_key", sa.String(length=2048), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("sample_size", sa.BigInteger(), nullable=False),
        sa.Column("sample_time", sa.BigInteger(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("hard", sa.Boolean(), nullable=False),
        sa.Column("hard_coefficient", sa.Float(), nullable=True),
        sa.Column("top_score", sa.Float(), nullable=True),
        sa.Column("import_origin", sa.String(length=64), nullable=True),
        sa.Column("labeler", sa.String(length=256), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("stratum", sa.String(length=1024), nullable=True),
        sa.Column("usage", sa.String(length=16), nullable=True),
    )
    op.create_index(
        "ix_version_samples_version_time", "version_samples", ["version_id", "sample_time", "sample_id"]
    )
    op.create_table(
        "version_labels",
        sa.Column(
            "version_id",
            sa.String(length=32),
            sa.ForeignKey("dataset_versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("label_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("sample_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=1024), nullable=False),
        sa.Column("type", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("property", sa.JSON(), nullable=False),
        sa.Column("annotated_by", sa.String(length=128), nullable=False),
    )
    op.create_index("ix_version_labels_version_sample", "version_labels", ["version_id", "sample_id"])
    op.create_index("ix_version_labels_version_name", "version_labels", ["version_id", "name"])


def downgrade() -> None:
    op.drop_index("ix_version_labels_version_name", table_name="version_labels")
    op.drop_index("ix_version_labels_version_sample", table_name="version_labels")
    op.drop_table("version_labels")
    op.drop_index("ix_version_samples_version_time", table_name="version_samples")
    op.drop_table("version_samples")
    op.drop_index("ix_dataset_versions_dataset_time", table_name="dataset_versions")
    op.drop_table("dataset_versions")
