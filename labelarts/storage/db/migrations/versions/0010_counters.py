"""dataset_sample_counts and dataset_label_counts: counts maintained with every change

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_sample_counts",
        sa.Column(
            "dataset_id",
            sa.String(length=32),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sample_status", sa.String(length=32), primary_key=True),
        sa.Column("hard", sa.Boolean(), primary_key=True),
        sa.Column("n", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dataset_label_counts",
        sa.Column(
            "dataset_id",
            sa.String(length=32),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(length=1024), primary_key=True),
        sa.Column("sample_status", sa.String(length=32), primary_key=True),
        sa.Column("samples", sa.BigInteger(), nullable=False),
        sa.Column("instances", sa.BigInteger(), nullable=False),
    )
    # The backfill: one recount, from here on every writer keeps them (storage/db/counters.py).
    op.execute(
        "INSERT INTO dataset_sample_counts (dataset_id, sample_status, hard, n) "
        "SELECT dataset_id, sample_status, hard, COUNT(*) FROM samples "
        "GROUP BY dataset_id, sample_status, hard"
    )
    op.execute(
        "INSERT INTO dataset_label_counts (dataset_id, name, sample_status, samples, instances) "
        "SELECT s.dataset_id, l.name, s.sample_status, COUNT(DISTINCT s.id), COUNT(*) "
        "FROM sample_labels l JOIN samples s ON s.id = l.sample_id "
        "GROUP BY s.dataset_id, l.name, s.sample_status"
    )


def downgrade() -> None:
    op.drop_table("dataset_label_counts")
    op.drop_table("dataset_sample_counts")
