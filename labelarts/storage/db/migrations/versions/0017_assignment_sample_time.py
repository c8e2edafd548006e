"""workforce_assignments.sample_time: the sample's time on each assignment, so that a labeler's
queue is ordered from the (task, worker, state, sample_time) index without reading the samples

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workforce_assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sample_time", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.drop_index("ix_workforce_assignments_task_worker")
        batch_op.create_index(
            "ix_workforce_assignments_queue", ["task_id", "worker_id", "state", "sample_time"], unique=False
        )
    op.execute(
        "UPDATE workforce_assignments SET sample_time = "
        "(SELECT samples.sample_time FROM samples WHERE samples.id = workforce_assignments.sample_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("workforce_assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_workforce_assignments_queue")
        batch_op.create_index(
            "ix_workforce_assignments_task_worker", ["task_id", "worker_id", "state"], unique=False
        )
        batch_op.drop_column("sample_time")
