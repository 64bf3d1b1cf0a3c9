"""changes read in the overlap: the change ids the next sync would read again

A sync of changes re-reads the last 15 minutes of payroll's feed; the ids of the changes it
read there are kept, so the next sync reads only the employees of changes it has not read.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payroll_database") as batch:
        batch.add_column(sa.Column("feed_read", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payroll_database") as batch:
        batch.drop_column("feed_read")
