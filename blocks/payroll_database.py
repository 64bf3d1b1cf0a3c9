"""The Prefect Block that holds a payroll database's connection string as a secret."""

from __future__ import annotations

from typing import ClassVar, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr


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


def block_name_for(database: str) -> str:
    """The Prefect block document name of a payroll database (blocks allow no underscores)."""
    return "payroll-" + database.replace("_", "-")
