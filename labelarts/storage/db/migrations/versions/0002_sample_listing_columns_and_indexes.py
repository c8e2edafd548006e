"""sample listing columns and indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 21:22:08.066440
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data_version", sa.BigInteger(), nullable=False, server_default="0"))

    with op.batch_alter_table("sample_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sample_labels_dataset_id"))
        batch_op.drop_index(batch_op.f("ix_sample_labels_name"))
        batch_op.create_index(
            "ix_sample_labels_dataset_name_sample", ["dataset_id", "name", "sample_id"], unique=False
        )
        batch_op.create_index(
            "ix_sample_labels_dataset_name_score", ["dataset_id", "name", "score"], unique=False
        )

    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source_kind", sa.String(length=16), nullable=False, server_default="object")
        )
        batch_op.add_column(sa.Column("content_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hard_coefficient", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("import_origin", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("labeler", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("parent_sample_id", sa.String(length=32), nullable=True))
        batch_op.alter_column(
            "source_key",
            existing_type=sa.VARCHAR(length=1024),
            type_=sa.String(length=2048),
            existing_nullable=False,
        )
        batch_op.drop_index(batch_op.f("ix_samples_dataset_id"))
        batch_op.drop_index(batch_op.f("ix_samples_dataset_status"))
        batch_op.create_index(
            "ix_samples_dataset_hard_time", ["dataset_id", "hard", "sample_time", "id"], unique=False
        )
        batch_op.create_index("ix_samples_dataset_hash", ["dataset_id", "content_hash"], unique=False)
        batch_op.create_index("ix_samples_dataset_score", ["dataset_id", "top_score", "id"], unique=False)
        batch_op.create_index(
            "ix_samples_dataset_status_time",
            ["dataset_id", "sample_status", "sample_time", "id"],
            unique=False,
        )
        batch_op.create_index("ix_samples_dataset_time", ["dataset_id", "sample_time", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.drop_index("ix_samples_dataset_time")
        batch_op.drop_index("ix_samples_dataset_status_time")
        batch_op.drop_index("ix_samples_dataset_score")
        batch_op.drop_index("ix_samples_dataset_hash")
        batch_op.drop_index("ix_samples_dataset_hard_time")
        batch_op.create_index(
            batch_op.f("ix_samples_dataset_status"), ["dataset_id", "sample_status"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_samples_dataset_id"), ["dataset_id"], unique=False)
        batch_op.alter_column(
            "source_key",
            existing_type=sa.String(length=2048),
            type_=sa.VARCHAR(length=1024),
            existing_nullable=False,
        )
        batch_op.drop_column("parent_sample_id")
        batch_op.drop_column("labeler")
        batch_op.drop_column("import_origin")
        batch_op.drop_column("hard_coefficient")
        batch_op.drop_column("content_hash")
        batch_op.drop_column("source_kind")

    with op.batch_alter_table("sample_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_sample_labels_dataset_name_score")
        batch_op.drop_index("ix_sample_labels_dataset_name_sample")
        batch_op.create_index(batch_op.f("ix_sample_labels_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_sample_labels_dataset_id"), ["dataset_id"], unique=False)

    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_column("data_version")
