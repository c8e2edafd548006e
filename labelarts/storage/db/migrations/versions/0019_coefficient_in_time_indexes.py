"""The time indexes carry hard_coefficient after their key (docs/benchmarks.md, issue 10): a
``coefficient`` search condition walks ix_samples_dataset_time (the data list) or
ix_samples_dataset_status_time (the auto-annotation list) and checks the coefficient there
instead of reading the row of every walked sample.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 01:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = {
    "ix_samples_dataset_time": ["dataset_id", "sample_time", "id"],
    "ix_samples_dataset_status_time": ["dataset_id", "sample_status", "sample_time", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("samples", schema=None) as batch_op:
        for name, columns in KEYS.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, [*columns, "hard_coefficient"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("samples", schema=None) as batch_op:
        for name, columns in KEYS.items():
            batch_op.drop_index(name)
            batch_op.create_index(name, columns, unique=False)
