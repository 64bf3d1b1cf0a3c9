"""one running job per database on SQL Server too: the unique index keeps its filter

The index that lets only one job per payroll database run was created with a filter on
SQLite and PostgreSQL only; on SQL Server it covered every job, so a database's second job
was refused for ever. SQL Server gets the filtered index; the other databases have it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_RUNNING = sa.text("status = 'running'")


def upgrade() -> None:
    if op.get_bind().dialect.name != "mssql":
        return
    op.drop_index("uq_sync_job_one_running", table_name="sync_job")
    op.create_index(
        "uq_sync_job_one_running",
        "sync_job",
        ["payroll_database"],
        unique=True,
        mssql_where=_RUNNING,
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "mssql":
        return
    op.drop_index("uq_sync_job_one_running", table_name="sync_job")
    op.create_index("uq_sync_job_one_running", "sync_job", ["payroll_database"], unique=True)
