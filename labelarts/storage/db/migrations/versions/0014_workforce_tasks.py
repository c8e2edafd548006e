"""workforce_tasks, workforce_task_members, workforce_task_samples, workforce_assignments,
workforce_checking_tasks: team labeling tasks, their people, samples, results and acceptances

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 23:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _task_fk() -> sa.ForeignKey:
    return sa.ForeignKey("workforce_tasks.id", ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "workforce_tasks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project_id", sa.String(32), nullable=False, index=True),
        sa.Column(
            "dataset_id",
            sa.String(32),
            sa.ForeignKey("datasets.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("repetition", sa.Integer(), nullable=False),
        sa.Column("synchronize_data", sa.Boolean(), nullable=False),
        sa.Column("synchronize_auto_labeling_data", sa.Boolean(), nullable=False),
        sa.Column("auto_sync_dataset", sa.Boolean(), nullable=False),
        sa.Column("sample_search_conditions", sa.JSON(), nullable=False),
        sa.Column("workforces", sa.JSON(), nullable=False),
        sa.Column("agency", sa.String(256), nullable=True),
        sa.Column("version_id", sa.String(32), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("checking_task_id", sa.String(32), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("dataset_id", "name", name="uq_workforce_task_dataset_name"),
    )
    op.create_table(
        "workforce_task_members",
        sa.Column("task_id", sa.String(32), _task_fk(), primary_key=True),
        sa.Column("worker_id", sa.String(32), primary_key=True),
        sa.Column("workforce_id", sa.String(32), nullable=False),
        sa.Column("email", sa.String(256), nullable=False, index=True),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "workforce_task_samples",
        sa.Column("task_id", sa.String(32), _task_fk(), primary_key=True),
        sa.Column(
            "sample_id", sa.String(32), sa.ForeignKey("samples.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("dataset_id", sa.String(32), nullable=False, index=True),
        sa.Column("base_revision", sa.BigInteger(), nullable=False),
        sa.Column("checking_task_id", sa.String(32), nullable=True),
        sa.Column("synced", sa.Boolean(), nullable=False),
        sa.Column("conflict", sa.String(64), nullable=True),
    )
    op.create_table(
        "workforce_assignments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("task_id", sa.String(32), _task_fk(), nullable=False),
        sa.Column(
            "sample_id",
            sa.String(32),
            sa.ForeignKey("samples.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("worker_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("review_accept", sa.Boolean(), nullable=True),
        sa.Column("review_comment", sa.String(256), nullable=True),
        sa.Column("review_score", sa.String(1), nullable=True),
        sa.Column("reviewer_id", sa.String(32), nullable=True),
        sa.Column("check_accept", sa.Boolean(), nullable=True),
        sa.Column("check_comment", sa.String(256), nullable=True),
        sa.Column("check_score", sa.String(1), nullable=True),
        sa.Column("checking_task_id", sa.String(32), nullable=True),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("task_id", "sample_id", "worker_id", name="uq_workforce_assignment"),
    )
    op.create_index(
        "ix_workforce_assignments_task_worker", "workforce_assignments", ["task_id", "worker_id", "state"]
    )
    op.create_index("ix_workforce_assignments_task_state", "workforce_assignments", ["task_id", "state"])
    op.create_table(
        "workforce_checking_tasks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("task_id", sa.String(32), _task_fk(), nullable=False),
        sa.Column("sampling_num", sa.Integer(), nullable=True),
        sa.Column("sampling_rate", sa.Float(), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("pool_size", sa.Integer(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("action", sa.Integer(), nullable=True),
        sa.Column("overwrite_last_result", sa.Boolean(), nullable=False),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_workforce_checking_tasks_task", "workforce_checking_tasks", ["task_id", "create_time"]
    )


def downgrade() -> None:
    op.drop_table("workforce_checking_tasks")
    op.drop_table("workforce_assignments")
    op.drop_table("workforce_task_samples")
    op.drop_table("workforce_task_members")
    op.drop_table("workforce_tasks")
