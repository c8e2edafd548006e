"""sample feature cache for auto labeling

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sample_features",
        sa.Column("sample_id", sa.String(length=32), nullable=False),
        sa.Column("encoder", sa.String(length=64), nullable=False),
        sa.Column("dataset_id", sa.String(length=32), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["sample_id"], ["samples.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("sample_id", "encoder"),
    )
    op.create_index("ix_sample_features_dataset_id", "sample_features", ["dataset_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_sample_features_dataset_id", table_name="sample_features")
    op.drop_table("sample_features")
