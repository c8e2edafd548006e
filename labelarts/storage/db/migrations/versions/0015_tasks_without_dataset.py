"""tasks.dataset_id nullable: a processing run over a granted folder or prefix has no dataset

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.alter_column("dataset_id", existing_type=sa.String(length=32), nullable=True)


def downgrade() -> None:
    # Runs without a dataset cannot be kept under a NOT NULL column.
    op.execute("DELETE FROM tasks WHERE dataset_id IS NULL")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.alter_column("dataset_id", existing_type=sa.String(length=32), nullable=False)
