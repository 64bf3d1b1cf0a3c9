"""per-database schedules: when each payroll database's jobs run on a Prefect server

`ess-sync schedule` keeps them here, so redeploying never undoes them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 03:21:46.051038
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payroll_schedule",
        sa.Column("payroll_database", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("cron", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("payroll_database", "kind", name=op.f("pk_payroll_schedule")),
    )


def downgrade() -> None:
    op.drop_table("payroll_schedule")
