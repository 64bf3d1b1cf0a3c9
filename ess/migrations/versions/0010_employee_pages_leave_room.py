"""employee pages leave room: a sync that changes everyone updates each row in its own page

PostgreSQL only (SQLite has no fill factor). An UPDATE that changes no indexed column and
finds room in the row's page is a HOT update: no index is touched. Filled to the brim (the
default), a page has no room, so a pay review that changes all 200,000 employees wrote a
new entry in each of employee's three indexes for every row: 5.6 s of UPDATE, against
1.7 s with pages half filled (measured on one table, side by side). The table takes twice
the pages (130 MB instead of 64 MB at 200,000 employees).

Rows already stored keep their full pages until they next move: the first sync that
changes them puts them in pages filled to half, so a database upgraded in place gets there
after one pay review (or at once with `VACUUM FULL employee`, which locks the table).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 19:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE employee SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE employee RESET (fillfactor)")
