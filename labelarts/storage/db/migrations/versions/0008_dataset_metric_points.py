"""dataset_metric_points (GET .../metrics history)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_metric_points",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "dataset_id",
            sa.String(length=32),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
    )
    op.create_index("ix_dataset_metric_points_dataset_at", "dataset_metric_points", ["dataset_id", "at_ms"])


def downgrade() -> None:
    op.drop_index("ix_dataset_metric_points_dataset_at", table_name="dataset_metric_points")
    op.drop_table("dataset_metric_points")
