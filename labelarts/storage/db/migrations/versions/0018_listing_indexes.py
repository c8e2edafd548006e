"""Listing indexes, measured (docs/benchmarks.md, issue 10): ix_samples_dataset_score carries
sample_status after its key, so the auto-annotation list's score filters (status
AUTO_ANNOTATION) check the status from the index instead of reading each walked sample's row;
ix_sample_labels_dataset_name_score goes: no query reads labels by name and score (score
filters are on samples.top_score), and ix_sample_labels_dataset_name_sample answers a name

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 20:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.drop_index("ix_samples_dataset_score")
        batch_op.create_index(
            "ix_samples_dataset_score", ["dataset_id", "top_score", "id", "sample_status"], unique=False
        )
    with op.batch_alter_table("sample_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_sample_labels_dataset_name_score")


def downgrade() -> None:
    with op.batch_alter_table("sample_labels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sample_labels_dataset_name_score", ["dataset_id", "name", "score"], unique=False
        )
    with op.batch_alter_table("samples", schema=None) as batch_op:
        batch_op.drop_index("ix_samples_dataset_score")
        batch_op.create_index("ix_samples_dataset_score", ["dataset_id", "top_score", "id"], unique=False)
