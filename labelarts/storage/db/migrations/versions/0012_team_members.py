"""Team labeling, the people side: project members with a role, users' email, workforces,
workers, invitations and the mail outbox

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email", sa.String(length=254), nullable=True))
    op.create_index("uq_users_email", "users", ["email"], unique=True)
    op.create_table(
        "project_members",
        sa.Column(
            "user_id", sa.String(length=32), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("project_id", sa.String(length=32), sa.ForeignKey("projects.id"), primary_key=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_project_members_project_id", "project_members", ["project_id"])
    # Every existing user owns their project, as before.
    op.execute(
        "INSERT INTO project_members (user_id, project_id, role, create_time) "
        "SELECT id, project_id, 'owner', create_time FROM users"
    )
    op.create_table(
        "workforces",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("project_id", sa.String(length=32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
        sa.UniqueConstraint("project_id", "name", name="uq_workforce_project_name"),
    )
    op.create_index("ix_workforces_project_id", "workforces", ["project_id"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column(
            "workforce_id",
            sa.String(length=32),
            sa.ForeignKey("workforces.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("project_id", sa.String(length=32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=256), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_workers_workforce_id", "workers", ["workforce_id"])
    op.create_index("ix_workers_project_email", "workers", ["project_id", "email"])
    op.create_index(
        "uq_workers_live_email",
        "workers",
        ["workforce_id", "email"],
        unique=True,
        sqlite_where=sa.text("status != 3"),
        postgresql_where=sa.text("status != 3"),
    )
    op.create_table(
        "invitations",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("project_id", sa.String(length=32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("used_at", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_invitations_project_id", "invitations", ["project_id"])
    op.create_index("ix_invitations_email", "invitations", ["email"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("project_id", sa.String(length=32), sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=256), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("worker_id", sa.String(length=32), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("email_status", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.BigInteger(), nullable=False),
        sa.Column("sent_time", sa.BigInteger(), nullable=True),
    )
    op.create_index("ix_outbox_project_id", "outbox", ["project_id"])
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_task_worker", "outbox", ["task_id", "worker_id"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("invitations")
    op.drop_table("workers")
    op.drop_table("workforces")
    op.drop_table("project_members")
    op.drop_index("uq_users_email", table_name="users")
    op.drop_column("users", "email")
