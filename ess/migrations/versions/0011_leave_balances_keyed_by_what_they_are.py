"""leave balances keyed by what they are: (database, employee, leave type), no surrogate id

Nothing read a balance by its `id`, yet every balance written paid for it: a value drawn
from a sequence and an entry in the id's own index, beside the entry in the unique index on
(payroll_database, payroll_employee_id, leave_type_code) that every read and write uses.
That key is now the primary key and the id is gone. Loading 1.6 million balances into the
table by `COPY` took 5.3-8.2 s with the id, 3.5-4.8 s without (8 million: 31.5-35.9 s
against 21.9-22.7 s), measured in psql on the development machine (bench/README.md).

Upgrading builds the new key's index once (PostgreSQL and SQL Server) or copies the table
(SQLite): seconds a million balances.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_KEY = ["payroll_database", "payroll_employee_id", "leave_type_code"]
_UNIQUE = "uq_leave_balance_payroll_database_payroll_employee_id_leave_type_code"


def upgrade() -> None:
    with op.batch_alter_table("leave_balance") as batch:
        batch.drop_constraint(op.f("pk_leave_balance"), type_="primary")
        batch.drop_column("id")
        batch.drop_constraint(op.f(_UNIQUE), type_="unique")
        batch.create_primary_key(op.f("pk_leave_balance"), _KEY)


def downgrade() -> None:
    with op.batch_alter_table("leave_balance") as batch:
        batch.drop_constraint(op.f("pk_leave_balance"), type_="primary")
        batch.create_unique_constraint(op.f(_UNIQUE), _KEY)
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("ALTER TABLE leave_balance ADD COLUMN id SERIAL NOT NULL")
    elif dialect == "mssql":
        op.execute("ALTER TABLE leave_balance ADD id INT IDENTITY NOT NULL")
    else:  # SQLite numbers the rows it copies into an INTEGER PRIMARY KEY
        with op.batch_alter_table("leave_balance") as batch:
            batch.add_column(sa.Column("id", sa.Integer(), nullable=False))
            batch.create_primary_key(op.f("pk_leave_balance"), ["id"])
        return
    op.create_primary_key(op.f("pk_leave_balance"), "leave_balance", ["id"])
