"""leave balance digests: what the last leave sync read of each employee's balances

A leave re-sync asks payroll for a digest of each employee's balances and reads again only
the employees whose digest differs from the one kept here.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leave_balance_digest",
        sa.Column("payroll_database", sa.String(length=63), nullable=False),
        sa.Column("employees", sa.Integer(), nullable=False),
        sa.Column("ids", sa.LargeBinary(), nullable=False),
        sa.Column("kept", sa.LargeBinary(), nullable=False),
        sa.Column("digests", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("payroll_database", name=op.f("pk_leave_balance_digest")),
    )


def downgrade() -> None:
    op.drop_table("leave_balance_digest")
