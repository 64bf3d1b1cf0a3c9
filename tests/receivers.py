"""Tiny real receivers for notifications: an HTTP server and an SMTP server on free ports.

Each runs in a thread of the test process and keeps what it received. The SMTP one speaks
just enough of RFC 5321 for smtplib (`smtpd` is deprecated, and warnings are errors here).
"""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """What a receiver got, in order; safe to read from the test's thread."""

    items: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: Any) -> None:
        """Keep one message."""
        with self.lock:
            self.items.append(item)

    def all(self) -> list[Any]:
        """Everything received so far."""
        with self.lock:
            return list(self.items)


@contextmanager
def http_receiver() -> Iterator[tuple[str, Received]]:
    """A webhook on 127.0.0.1: its URL, and the JSON bodies POSTed to it."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.add(json.loads(self.rfile.read(length) or b"null"))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook?token=s3cret-token", received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def smtp_receiver() -> Iterator[tuple[int, Received]]:
    """An SMTP server on 127.0.0.1 that accepts every message: its port, and the messages."""
    received = Received()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            self._say("220 receiver ready")
            envelope: dict[str, Any] = {"rcpt": []}
            while line := self.rfile.readline():
                command = line.decode("ascii", "replace").strip()
                verb = command.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    self._say("250 receiver")
                elif verb == "MAIL":
                    envelope["from"] = command
                    self._say("250 OK")
                elif verb == "RCPT":
                    envelope["rcpt"].append(command)
                    self._say("250 OK")
                elif verb == "DATA":
                    self._say("354 end with <CRLF>.<CRLF>")
                    data = []
                    while (part := self.rfile.readline()) not in (b".\r\n", b""):
                        data.append(part)
                    received.add({**envelope, "data": b"".join(data).decode()})
                    self._say("250 OK")
                elif verb == "QUIT":
                    self._say("221 bye")
                    return
                else:
                    self._say("250 OK")

        def _say(self, line: str) -> None:
            self.wfile.write(line.encode() + b"\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), received
    finally:
        server.shutdown()
        server.server_close()
