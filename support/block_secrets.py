"""`python -m support.block_secrets DATABASE`: a payroll block's secrets, as JSON, for the bundle.

Run as a child process when no Prefect server is configured: the block then lives in this
machine's local Prefect store, and reading it imports Prefect and starts its temporary
server, which the `ess-sync support-bundle` process itself never does (it stays quick).
"""

from __future__ import annotations

import json
import sys

from core.redact import connection_secrets


def main(database: str) -> int:
    """Print the database's connection secrets as a JSON list; exit 1 with the reason if not."""
    from payroll.connect import load_payroll

    try:
        block = load_payroll(database)
    except Exception as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    secret = block.connection_string.get_secret_value()
    print(json.dumps(connection_secrets(block.connection_kind, secret)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
