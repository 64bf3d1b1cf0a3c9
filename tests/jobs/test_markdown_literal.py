"""Payroll values in the Prefect UI's markdown artifacts read as written, whatever they hold."""

from hypothesis import given
from hypothesis import strategies as st

from core.results import JobResult, StepCounts
from flows.sync_from_payroll import preview_markdown
from jobs.reporting import literal, summary_markdown
from tests.support import markdown_shown

# Any text but NUL, which CommonMark replaces with U+FFFD wherever it stands, and but text
# of spaces alone, which shows nothing. A lambda: Hypothesis reads `.filter(str.split)` as a
# length bound and drew " ".
TEXT = st.text(st.characters(blacklist_characters="\x00"), min_size=1).filter(
    lambda text: bool(text.split())
)
MARKUP = st.sampled_from(
    [
        '<b>O\'Neil & "Co"</b><script>x</script>',
        "[pay](http://x.example) ![i](y.png) <http://z.example>",
        "| a | b |",
        "**bold** _it_ `code` ~~gone~~",
        "# heading",
        "1. one",
        "- item",
        "> quote",
        "&amp; &#60; \\* \\",
        "line one\nline two\r\n\n---",
        "    indented code",
        "{0} [/] %s",
    ]
)


def _as_written(text: str) -> str:
    # Shown on one line: markdown would end a list item or a table row at a line break.
    return " ".join(text.split())


@given(st.one_of(TEXT, MARKUP))
def test_any_text_is_one_paragraph_shown_as_written(text):
    assert markdown_shown(literal(text)) == [_as_written(text)]


@given(st.one_of(TEXT, MARKUP), st.one_of(TEXT, MARKUP))
def test_any_text_is_one_list_item_and_one_table_cell(first, second):
    item = f"- {literal(first)}\n- {literal(second)}\n"
    assert markdown_shown(item) == [_as_written(first), _as_written(second)]
    table = f"| A | B |\n|---|---|\n| {literal(first)} | {literal(second)} |\n"
    assert markdown_shown(table) == ["A | B", f"{_as_written(first)} | {_as_written(second)}"]


def test_the_summary_shows_a_message_quoting_markup_as_the_web_api_log_has_it():
    from datetime import UTC, datetime

    from ess.store.log import LogRow

    message = "Warning for employee E1: location_code '[pay](http://x) <b>b</b> | c' is unknown."
    rows = [
        LogRow(1, datetime(2026, 1, 1, tzinfo=UTC), "acme", 1, "info", "Job Started."),
        LogRow(2, datetime(2026, 1, 1, tzinfo=UTC), "acme", 1, "warning", message),
    ]
    steps = (StepCounts("employees", (("added", 3),)),)
    result = JobResult(
        "sync-from-payroll", "acme", "completed", "Job Completed.", 1, 2.0, steps=steps
    )
    shown = markdown_shown(summary_markdown(result, rows))
    assert message in shown
    assert "employees | 3" in shown


def test_the_preview_shows_employee_codes_that_look_like_markup_as_written():
    codes = ("E|1", "<i>E2</i>", "[E3](http://x)")
    steps = (StepCounts("employees", (("added", 3),), (("added", codes),)),)
    result = JobResult("sync-from-payroll", "acme", "preview", "Preview.", steps=steps)
    shown = markdown_shown(preview_markdown(result))
    assert "employees | 3 added" in shown
    assert " | added: E|1, <i>E2</i>, [E3](http://x)" in shown
