"""The reconciliation report as a file a support person opens: CSV, Excel (XLSX) or HTML.

Every difference is read back from the spool a chunk at a time (memory stays flat); secret
fields were masked before they reached the spool. Payroll values are data: HTML escapes
them, and Excel is told each one is text (a value starting with '=' is never a formula).
A CSV cannot say "text", so a value Excel would run as a formula (starting with =, +, @,
a tab, or a - that is not a number) is written with a leading apostrophe, as OWASP's CSV
injection guidance advises; Excel shows the value without it.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from prefect import task
from prefect.cache_policies import NO_CACHE

from core.reconcile import DIFFERENCE_COLUMNS

FORMATS = (".csv", ".xlsx", ".html")
COLUMNS = (*DIFFERENCE_COLUMNS, "reason")
_READ = 50_000  # spool rows a read
_EXCEL_ROWS = 1_048_575  # a worksheet's rows, less its header
_FORMULA = re.compile(r"^(?:[=+@\t\r]|-(?![0-9.]+$))")


@task(name="export-reconciliation", task_run_name="writing the report", cache_policy=NO_CACHE)
def export_report(spool: str, summary: dict[str, Any], path: str) -> str:
    """Write every difference and the rejected employees to `path` (its suffix says the format)."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"The report is written as {', '.join(FORMATS)}, not {suffix!r}.")
    # Payroll data: the owner's only, like every file that holds it.
    target.touch(mode=0o600, exist_ok=True)
    os.chmod(target, 0o600)
    {".csv": _csv, ".xlsx": _xlsx, ".html": _html}[suffix](spool, summary, target)
    return str(target)


def _chunks(spool: str) -> Iterator[pd.DataFrame]:
    if not os.path.getsize(spool):
        return
    # Every column is text as the spool holds it: no number or date is guessed back.
    yield from pd.read_csv(spool, dtype=str, keep_default_na=False, chunksize=_READ)


def _rejected(summary: dict[str, Any]) -> pd.DataFrame:
    rows = [
        ("employee (rejected)", r["code"], r["field"], "", "", r["reason"])
        for r in summary.get("rejected", ())
    ]
    return pd.DataFrame(rows, columns=list(COLUMNS), dtype=object)


def inert(value: Any) -> Any:
    """A CSV cell Excel opens as the text it is, never as a formula."""
    if isinstance(value, str) and _FORMULA.match(value):
        return "'" + value
    return value


def _csv(spool: str, summary: dict[str, Any], target: Path) -> None:
    header = True
    for chunk in _chunks(spool):
        chunk.assign(reason="").map(inert).to_csv(
            target, mode="w" if header else "a", header=header, index=False
        )
        header = False
    rejected = _rejected(summary).map(inert)
    rejected.to_csv(target, mode="w" if header else "a", header=header, index=False)


def _xlsx(spool: str, summary: dict[str, Any], target: Path) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Summary")
    _row(sheet, ("table", "in payroll", "in ESS", "only in payroll", "only in ESS", "differing"))
    for t in summary["tables"]:
        _row(
            sheet,
            (
                t["table"],
                t["in payroll"],
                t["in ESS"],
                t["only in payroll"],
                t["only in ESS"],
                t["differing"],
            ),
        )
    sheet = book.create_sheet("Differences")
    _row(sheet, DIFFERENCE_COLUMNS)
    written = 0
    for chunk in _chunks(spool):
        for values in chunk.itertuples(index=False):
            if written == _EXCEL_ROWS:
                break
            _row(sheet, values)
            written += 1
    sheet = book.create_sheet("Rejected")
    _row(sheet, ("code", "field", "reason"))
    for r in summary.get("rejected", ()):
        _row(sheet, (r["code"], r["field"], r["reason"]))
    book.save(target)


def _row(sheet: WriteOnlyWorksheet, values: Any) -> None:
    cells = []
    for value in values:
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, str):
            cell.data_type = "s"  # text, even '=HYPERLINK(...)': a payroll value is data
        cells.append(cell)
    sheet.append(cells)


def _html(spool: str, summary: dict[str, Any], target: Path) -> None:
    with target.open("w", encoding="utf-8") as out:
        out.write('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">')
        out.write("<title>Reconciliation</title></head><body>\n<h1>Reconciliation</h1>\n")
        tables = pd.DataFrame(summary["tables"]).drop(columns=["fields"], errors="ignore")
        out.write(tables.to_html(index=False, escape=True) + "\n<h2>Differences</h2>\n")
        out.write("<table><thead><tr>")
        out.write("".join(f"<th>{html.escape(c)}</th>" for c in DIFFERENCE_COLUMNS))
        out.write("</tr></thead><tbody>\n")
        for chunk in _chunks(spool):
            for values in chunk.itertuples(index=False):
                cells = "".join(f"<td>{html.escape(str(v))}</td>" for v in values)
                out.write(f"<tr>{cells}</tr>\n")
        out.write("</tbody></table>\n<h2>Rejected employees</h2>\n")
        rejected = _rejected(summary)[["code", "field", "reason"]]
        out.write(rejected.to_html(index=False, escape=True) + "\n</body></html>\n")
