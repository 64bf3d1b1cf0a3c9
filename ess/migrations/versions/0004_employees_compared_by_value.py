"""employees compared by value: drop employee.manager_id and employee.payroll_hash

ESS finds an employee's manager by manager_code (its code key) when it reads the employee,
so a sync no longer rewrites every employee to point at their manager's ESS id; and a sync
compares payroll's values with ESS's own, so it keeps no fingerprint of them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 07:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("employee") as batch:
        batch.drop_column("manager_id")
        batch.drop_column("payroll_hash")


def downgrade() -> None:
    with op.batch_alter_table("employee") as batch:
        batch.add_column(sa.Column("manager_id", sa.Integer(), nullable=True))
        # Every employee is compared (and rewritten) by the next sync: the empty fingerprint
        # matches no payroll row.
        batch.add_column(
            sa.Column("payroll_hash", sa.String(32), nullable=False, server_default="")
        )
