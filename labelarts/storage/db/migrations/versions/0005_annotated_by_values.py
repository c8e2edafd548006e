"""sample_labels.annotated_by holds the API's values, "human" or "auto"

Earlier versions stored "human/manual" (API edits), "modelarts/auto" (unconfirmed uploads),
"modelarts/active-learning" (auto labeling) and a manifest's ``annotated-by`` as written. The
rule is the manifest import's: "auto" and ``modelarts/...`` agents are "auto", the rest "human".

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "UPDATE sample_labels SET annotated_by = CASE "
        "WHEN annotated_by = 'auto' OR annotated_by LIKE 'modelarts/%' THEN 'auto' ELSE 'human' END "
        "WHERE annotated_by NOT IN ('human', 'auto')"
    )


def downgrade() -> None:
    # The agents' exact names are gone; these are the values the previous version wrote.
    op.execute(
        "UPDATE sample_labels SET annotated_by = CASE "
        "WHEN annotated_by = 'auto' THEN 'modelarts/active-learning' ELSE 'human/manual' END"
    )
