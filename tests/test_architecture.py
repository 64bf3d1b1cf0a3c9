"""STYLE.md's layers, held by parsing imports: core decides, tasks do I/O, flows orchestrate."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _imports(folder: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((REPO / folder).rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path.name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.append((path.name, node.module))
            elif isinstance(node, ast.Attribute) and node.attr == "environ":
                found.append((path.name, "os.environ"))
    return found


def _forbidden(folder: str, prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(f, m) for f, m in _imports(folder) if m.split(".")[0] in prefixes or m in prefixes]


def test_the_core_imports_no_io_library():
    assert (
        _forbidden(
            "core",
            (
                "prefect",
                "sqlalchemy",
                "pyodbc",
                "os.environ",
                "psycopg",
                "redis",
                "tasks",
                "flows",
                "ess",
                "blocks",
            ),
        )
        == []
    )


def test_tasks_never_import_flows():
    assert _forbidden("tasks", ("flows", "cli")) == []


def test_flows_hold_no_sql():
    assert _forbidden("flows", ("sqlalchemy", "pyodbc", "psycopg", "sqlite3")) == []


FLOW_FILES = sorted(p for p in (REPO / "flows").glob("*.py") if "@flow(" in p.read_text())


def test_every_flow_of_the_mission_has_a_file():
    assert {p.stem for p in FLOW_FILES} >= {
        "sync_from_payroll", "sync_leave_balances", "web_api_log_retention",
    }  # fmt: skip


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.stem)
def test_each_flow_file_runs_with_python_m(path):
    assert 'if __name__ == "__main__":' in path.read_text()


def test_the_ess_store_never_reads_payroll_nor_keeps_a_job():
    # Loading a payroll block to read it is payroll/connect.py's (once per job), not ESS's.
    assert _forbidden("ess", ("payroll", "jobs", "tasks", "flows")) == []
