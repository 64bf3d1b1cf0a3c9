"""The house's shape, held by parsing imports: core decides, payroll reads payroll, ess/store
reads and writes ESS, jobs run a job, tasks are Prefect tasks, flows orchestrate, and the CLI
and the page stay thin."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
IO = ("prefect", "sqlalchemy", "pyodbc", "psycopg", "sqlite3", "redis", "os.environ")
OURS = ("payroll", "ess", "jobs", "tasks", "flows", "blocks", "orchestration", "support")


def _imports(folder: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((REPO / folder).rglob("*.py")):
        tree = ast.parse(path.read_text())
        name = str(path.relative_to(REPO))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(name, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.append((name, node.module))
            elif isinstance(node, ast.Attribute) and node.attr == "environ":
                found.append((name, "os.environ"))
    return found


def _forbidden(folder: str, prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
    return [
        (f, m)
        for f, m in _imports(folder)
        if m in prefixes
        or m.split(".")[0] in prefixes
        or any(m.startswith(p + ".") for p in prefixes)
    ]


def test_the_core_imports_no_io_library_and_nothing_of_ours_outside_it():
    assert _forbidden("core", (*IO, *OURS, "cli", "web")) == []


def test_the_ess_store_never_reaches_up_into_jobs_tasks_flows_or_the_interfaces():
    assert _forbidden("ess", ("jobs", "tasks", "flows", "orchestration", "cli", "web")) == []


def test_payroll_reading_never_reaches_up_into_jobs_tasks_flows_or_the_interfaces():
    assert _forbidden("payroll", ("tasks", "flows", "orchestration", "cli", "web")) == []


def test_jobs_never_import_flows_or_the_interfaces():
    # A job kind names its flow as "module:function" and imports it only when a job runs.
    assert _forbidden("jobs", ("flows", "cli", "web")) == []


def test_tasks_never_import_flows_or_the_interfaces():
    assert _forbidden("tasks", ("flows", "cli", "web")) == []


def test_flows_hold_no_sql():
    assert _forbidden("flows", ("sqlalchemy", "pyodbc", "psycopg", "sqlite3", "ess.schema")) == []


@pytest.mark.parametrize("folder", ["cli", "web"])
def test_the_cli_and_the_page_never_touch_the_ess_schema_or_a_driver(folder):
    assert _forbidden(folder, ("sqlalchemy", "pyodbc", "psycopg", "sqlite3", "ess.schema")) == []


TASK_MODULES = sorted(p for p in (REPO / "tasks").rglob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("path", TASK_MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_module_in_tasks_defines_a_prefect_task(path):
    tree = ast.parse(path.read_text())
    decorators = [
        d.func if isinstance(d, ast.Call) else d
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef)
        for d in node.decorator_list
    ]
    assert any(isinstance(d, ast.Name) and d.id == "task" for d in decorators)


FLOW_FILES = sorted(p for p in (REPO / "flows").glob("*.py") if "@flow(" in p.read_text())


def test_every_flow_of_the_mission_has_a_file():
    names = {p.stem for p in FLOW_FILES}
    assert names >= {"sync_from_payroll", "sync_leave_balances", "web_api_log_retention"}


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.stem)
def test_each_flow_file_runs_with_python_m(path):
    assert 'if __name__ == "__main__":' in path.read_text()


def test_every_kind_of_job_names_a_flow_of_its_own_name():
    from jobs.kinds import KINDS

    for kind in KINDS.values():
        module, _, function = kind.flow.partition(":")
        flow = kind.flow_function()
        assert (flow.name, flow.fn.__name__, flow.fn.__module__) == (kind.name, function, module)


def test_the_ess_store_never_reads_payroll_nor_keeps_a_job():
    # Loading a payroll block to read it is payroll/connect.py's (once per job), not ESS's.
    assert _forbidden("ess", ("payroll", "jobs", "tasks", "flows")) == []


@pytest.mark.parametrize("path", FLOW_FILES, ids=lambda p: p.stem)
def test_each_flow_persists_no_result_and_names_its_result_storage(path):
    """A flow naming neither makes every run ask the Prefect server for its default result
    storage (tests/flows/test_prefect_features.py counts those asks for the syncs)."""
    import importlib

    from prefect import Flow

    module = importlib.import_module(f"flows.{path.stem}")
    flows = [v for v in vars(module).values() if isinstance(v, Flow)]
    ours = [f for f in flows if f.fn.__module__ == module.__name__]
    assert ours, path.stem
    for flow in ours:
        assert flow.persist_result is False and flow.result_storage is not None, flow.name
