"""pyproject.toml declares exactly what the code imports: no missing package, no dead one."""

import ast
import os
import re
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())

# Declared and needed, yet never named by an `import`. Keep this short: each entry says why.
RUNTIME_WITHOUT_IMPORT = {
    # SQLAlchemy loads it for postgresql+psycopg:// URLs (bench and tests import it too).
    "psycopg": "the PostgreSQL driver",
    # fastapi.templating.Jinja2Templates imports it, and FastAPI does not depend on it.
    "jinja2": "the page's templates",
}
DEV_WITHOUT_IMPORT = {
    "ruff": "a command (`make lint`)",
    "mypy": "a command (`make lint`)",
    "types-redis": "stubs mypy reads for redis",
    "pandas-stubs": "stubs mypy reads for pandas",
    "pytest-xdist": "a pytest plugin (`make test` runs the suite in three workers: -n 3)",
}
_SKIPPED_DIRS = {"__pycache__", "build", "dist", "node_modules"}


def _normalised(name: str) -> str:
    # PEP 503: 'PyYAML', 'pyyaml' and 'py_yaml' are one distribution.
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings ('psycopg[binary]>=3.2' -> 'psycopg')."""
    names = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, requirement
        names.add(_normalised(match.group()))
    return names


RUNTIME = _declared(PYPROJECT["project"]["dependencies"])
DEV = _declared(PYPROJECT["project"]["optional-dependencies"]["dev"])
# The folders the wheel ships; the rest (tests/, bench/) may also use the dev extra.
PACKAGED = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}


def _python_files() -> Iterator[Path]:
    for folder, dirs, files in os.walk(REPO):
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(".") and d not in _SKIPPED_DIRS and not d.endswith(".egg-info")
        ]
        yield from (Path(folder, f) for f in files if f.endswith(".py"))


def _local_names() -> set[str]:
    return {p.name for p in REPO.iterdir() if p.is_dir()} | {p.stem for p in REPO.glob("*.py")}


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module -> the repo's top-level folders that import it."""
    local, found = _local_names(), dict[str, set[str]]()
    for path in _python_files():
        folder = path.relative_to(REPO).parts[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, set()).add(folder)
    return found


IMPORTS = _third_party_imports()
DISTRIBUTIONS = {
    module: {_normalised(d) for d in dists} for module, dists in packages_distributions().items()
}


def _imported_distributions(packaged_only: bool) -> set[str]:
    return {
        dist
        for module, folders in IMPORTS.items()
        if not packaged_only or folders & PACKAGED
        for dist in DISTRIBUTIONS.get(module, ())
    }


def test_every_imported_module_comes_from_an_installed_distribution():
    assert sorted(m for m in IMPORTS if m not in DISTRIBUTIONS) == []


def test_what_the_shipped_code_imports_is_a_runtime_dependency():
    missing = {
        module: sorted(DISTRIBUTIONS[module])
        for module, folders in IMPORTS.items()
        if folders & PACKAGED and module in DISTRIBUTIONS and not DISTRIBUTIONS[module] & RUNTIME
    }
    assert missing == {}


def test_what_only_tests_and_bench_import_is_declared_somewhere():
    missing = {
        module: sorted(DISTRIBUTIONS[module])
        for module in IMPORTS
        if module in DISTRIBUTIONS and not DISTRIBUTIONS[module] & (RUNTIME | DEV)
    }
    assert missing == {}


def test_every_runtime_dependency_is_imported_by_the_shipped_code():
    unused = RUNTIME - _imported_distributions(packaged_only=True) - set(RUNTIME_WITHOUT_IMPORT)
    assert sorted(unused) == []


def test_every_dev_dependency_is_imported_somewhere():
    unused = DEV - _imported_distributions(packaged_only=False) - set(DEV_WITHOUT_IMPORT)
    assert sorted(unused) == []


def test_the_allow_lists_name_only_declared_packages():
    assert set(RUNTIME_WITHOUT_IMPORT) <= RUNTIME
    assert set(DEV_WITHOUT_IMPORT) <= DEV
