"""The Prefect Block of a payroll database: its connection string as a secret, and reading it.

Like prefect-sqlalchemy's SqlAlchemyConnector, the block owns its behaviour: `reader()`
opens a read-only, cancellable reader. A reader opens per step: the block itself, shared
by a job's steps (payroll/connect.py), holds no live connection.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import ClassVar, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from core.redact import redact_connection
from payroll.source import PayrollReader, open_reader


class PayrollDatabase(Block):
    """A payroll database Sync from Payroll reads from (read-only)."""

    _block_type_name: ClassVar[str] = "Payroll Database"
    _block_type_slug: ClassVar[str] = "payroll-database"
    _description: ClassVar[str] = (
        "A payroll database that ESS syncs from. In production a SQL Server database read "
        "through pyodbc (ODBC connection string); for trials a SQLAlchemy URL."
    )

    database_name: str = Field(
        description="The name ESS knows this payroll database by, e.g. acme_payroll."
    )
    connection_kind: Literal["url", "odbc"] = Field(
        default="odbc",
        description="odbc: an ODBC connection string read with pyodbc; url: a SQLAlchemy URL.",
    )
    connection_string: SecretStr = Field(
        description="The connection string. Kept secret: never shown in logs or the UI."
    )
    query_timeout_seconds: int = Field(
        default=300, ge=1, description="A payroll query that runs longer than this is ended."
    )

    def reader(self) -> AbstractContextManager[PayrollReader]:
        """A read-only reader on this database, cancelled with its job; payroll's failures come
        out as PayrollReadError, the caller's own as raised.

        The read-only opening, the query limit (the server's, the driver's or a watchdog)
        and streaming are chosen once by the kind of database (payroll/drivers.py).
        """
        return open_reader(self)

    def connection_display(self) -> str:
        """The connection string fit to show a person: its password and tokens redacted."""
        secret = self.connection_string.get_secret_value()
        return redact_connection(self.connection_kind, secret)


def block_name_for(database: str) -> str:
    """The Prefect block document name of a payroll database (blocks allow no underscores)."""
    return "payroll-" + database.replace("_", "-")


def delete_block(database: str) -> bool:
    """Delete a payroll database's block, and with it its connection secret; False if none."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            document = client.read_block_document_by_name(
                name=block_name_for(database),
                block_type_slug=PayrollDatabase.get_block_type_slug(),
            )
        except ObjectNotFound:
            return False
        client.delete_block_document(document.id)
    return True
