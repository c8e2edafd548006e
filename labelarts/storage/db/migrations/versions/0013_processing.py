"""processing: data-processing tasks, their versions and per-sample results

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processor_tasks",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("template_id", sa.String(length=64), nullable=False),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("data_source", sa.JSON(), nullable=True),
        sa.Column("work_path", sa.JSON(), nullable=True),
        sa.Column("source_type", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=2048), nullable=False),
        sa.Column("dataset_id", sa.String(length=32), nullable=True),
        sa.Column("version_id", sa.String(length=32), nullable=True),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("next_version_num", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_processor_task_project_name"),
    )
    op.create_index("ix_processor_tasks_project_time", "processor_tasks", ["project_id", "create_time"])
    op.create_index("ix_processor_tasks_dataset_id", "processor_tasks", ["dataset_id"])
    op.create_table(
        "processor_task_versions",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column(
            "task_id",
            sa.String(length=32),
            sa.ForeignKey("processor_tasks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("version_name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("work_path", sa.JSON(), nullable=True),
        sa.Column("template", sa.JSON(), nullable=False),
        sa.Column("output_prefix", sa.String(length=1024), nullable=False),
        sa.Column("output_version_id", sa.String(length=32), nullable=True),
        sa.Column("stats", sa.JSON(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("task_id", "version_name", name="uq_processor_version_name"),
    )
    op.create_index("ix_processor_versions_task_time", "processor_task_versions", ["task_id", "create_time"])
    op.create_index("ix_processor_task_versions_job_id", "processor_task_versions", ["job_id"])
    op.create_table(
        "processor_results",
        sa.Column(
            "version_id",
            sa.String(length=32),
            sa.ForeignKey("processor_task_versions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("sample_id", sa.String(length=32), nullable=False),
        sa.Column("result_property", sa.Integer(), nullable=False),
        sa.Column("description", sa.JSON(), nullable=False),
        sa.Column("origin_kind", sa.String(length=16), nullable=True),
        sa.Column("origin_key", sa.String(length=2048), nullable=True),
        sa.Column("out_kind", sa.String(length=16), nullable=True),
        sa.Column("out_key", sa.String(length=2048), nullable=True),
        sa.Column("out_name", sa.String(length=1024), nullable=True),
        sa.Column("out_hash", sa.String(length=64), nullable=True),
        sa.Column("out_size", sa.BigInteger(), nullable=False),
        sa.Column("out_time", sa.BigInteger(), nullable=False),
        sa.Column("out_labels", sa.JSON(), nullable=False),
        sa.Column("out_metadata", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_processor_results_version_property",
        "processor_results",
        ["version_id", "result_property", "seq"],
    )


def downgrade() -> None:
    op.drop_table("processor_results")
    op.drop_table("processor_task_versions")
    op.drop_table("processor_tasks")
