"""workforce_task_samples.gold_labels: a team task's gold samples and their known answers

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workforce_task_samples", schema=None) as batch_op:
        batch_op.add_column(sa.Column("gold_labels", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workforce_task_samples", schema=None) as batch_op:
        batch_op.drop_column("gold_labels")
