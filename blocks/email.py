"""The `SMTP Email` notification block: a message to one address through an SMTP server.

Prefect 3.9's core has no SMTP block (SendgridEmail needs Sendgrid; prefect-email holds
credentials, not a notification block), so ESS brings this one. The Prefect server loads it
when an automation sends a notification: pyproject.toml registers this module as a
`prefect.collections` entry point, which every Prefect process in ESS's environment imports.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
from email.message import EmailMessage
from typing import ClassVar

from prefect.blocks.abstract import NotificationBlock
from pydantic import Field, SecretStr

DEFAULT_SMTP_PORT = 25


class SmtpEmail(NotificationBlock):
    """Sends each notification as one plain-text email through an SMTP server."""

    _block_type_name: ClassVar[str] = "SMTP Email"
    _block_type_slug: ClassVar[str] = "smtp-email"
    _description: ClassVar[str] = (
        "Sends notifications as plain-text email through an SMTP server (ESS Payroll Sync)."
    )

    to_address: str = Field(description="Who receives the messages, e.g. payroll@example.com.")
    from_address: str = Field(
        default="", description="The sender; empty for ess-sync@<this machine's name>."
    )
    host: str = Field(description="The SMTP server's host name.")
    port: int = Field(default=DEFAULT_SMTP_PORT, ge=1, le=65535)
    username: str | None = Field(default=None, description="Log in as this user, if set.")
    password: SecretStr | None = Field(
        default=None, description="The SMTP password. Kept secret: never shown in logs or the UI."
    )
    starttls: bool = Field(
        default=True, description="Upgrade to TLS when the server offers it (required to log in)."
    )
    timeout_seconds: float = Field(default=30, gt=0)

    def message(self, body: str, subject: str | None = None) -> EmailMessage:
        """The email a notification becomes."""
        message = EmailMessage()
        message["Subject"] = subject or "ESS Payroll Sync"
        message["From"] = self.from_address or f"ess-sync@{socket.getfqdn()}"
        message["To"] = self.to_address
        message.set_content(body)
        return message

    def send(self, body: str, subject: str | None = None) -> None:
        """Send one notification now, in this thread."""
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds) as smtp:
            smtp.ehlo()
            if self.starttls and smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            if self.username:
                secret = self.password.get_secret_value() if self.password else ""
                smtp.login(self.username, secret)
            smtp.send_message(self.message(body, subject))

    async def notify(self, body: str, subject: str | None = None) -> None:
        """Send one notification (the Prefect server awaits this in its event loop)."""
        await asyncio.to_thread(self.send, body, subject)
