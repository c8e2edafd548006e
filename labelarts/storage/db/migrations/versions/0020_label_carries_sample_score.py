"""A label row carries its sample's top score (``sample_labels.sample_top_score``), and
ix_sample_labels_dataset_name_sample_score orders a label's samples by that score: a list
filtered by label name and score range reads its page off that index instead of walking every
sample in the score range and probing its labels (docs/benchmarks.md, issue 10).

Who keeps the copy: a writer inserting label rows gives it (the score it writes on the sample:
``records.top_score_of``), and a trigger carries every change of ``samples.top_score`` to the
sample's label rows, whoever makes it (edits, auto labeling, label deletion, processing,
version restore, SQL written by hand). A label row's sample never changes (a rename changes
its name only). An insert trigger would keep the copy for writers that forget it, but a row
trigger on ``sample_labels`` inserts costs SQLite ~5 µs per label row even when it writes
nothing (one that writes cost a labelled import 11 %: docs/benchmarks.md);
``tests/integrity/test_counters.py`` checks that every writer gives the copy. On SQLite a table
rebuilt by a later migration (batch mode's "move and copy") loses its triggers: such a
migration must create the trigger again.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's UPDATE OF fires whenever the column is in the SET list: WHEN keeps it to changes.
SQLITE_CREATE = (
    """
    CREATE TRIGGER samples_score_to_labels AFTER UPDATE OF top_score ON samples
    WHEN NEW.top_score IS NOT OLD.top_score
    BEGIN
        UPDATE sample_labels SET sample_top_score = NEW.top_score WHERE sample_id = NEW.id;
    END
    """,
)
SQLITE_DROP = ("DROP TRIGGER IF EXISTS samples_score_to_labels",)

POSTGRESQL_CREATE = (
    """
    CREATE FUNCTION samples_score_to_labels() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE sample_labels SET sample_top_score = NEW.top_score WHERE sample_id = NEW.id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER samples_score_to_labels AFTER UPDATE OF top_score ON samples FOR EACH ROW
    WHEN (NEW.top_score IS DISTINCT FROM OLD.top_score) EXECUTE FUNCTION samples_score_to_labels()
    """,
)
POSTGRESQL_DROP = (
    "DROP TRIGGER IF EXISTS samples_score_to_labels ON samples",
    "DROP FUNCTION IF EXISTS samples_score_to_labels()",
)


def upgrade() -> None:
    with op.batch_alter_table("sample_labels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sample_top_score", sa.Float(), nullable=True))
    op.execute(
        "UPDATE sample_labels SET sample_top_score = "
        "(SELECT top_score FROM samples WHERE samples.id = sample_labels.sample_id)"
    )
    with op.batch_alter_table("sample_labels", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sample_labels_dataset_name_sample_score",
            ["dataset_id", "name", "sample_top_score", "sample_id"],
            unique=False,
        )
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_CREATE if postgresql else SQLITE_CREATE:
        op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRESQL_DROP if postgresql else SQLITE_DROP:
        op.execute(statement)
    with op.batch_alter_table("sample_labels", schema=None) as batch_op:
        batch_op.drop_index("ix_sample_labels_dataset_name_sample_score")
        batch_op.drop_column("sample_top_score")
