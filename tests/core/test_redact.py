from hypothesis import given
from hypothesis import strategies as st

from core.redact import mask_number, redact_odbc, redact_url, scrub, split_odbc


def test_a_url_password_is_never_shown():
    shown = redact_url("postgresql+psycopg://payroll:S3cr3t!@db.acme.local:5432/acme")
    assert "S3cr3t" not in shown
    assert shown == "postgresql+psycopg://payroll:***@db.acme.local:5432/acme"


def test_a_url_without_password_is_shown_whole():
    assert redact_url("sqlite:////var/ess/payroll.db") == "sqlite:////var/ess/payroll.db"


def test_a_password_in_a_url_query_is_redacted():
    shown = redact_url("mssql+pyodbc://@dsn?odbc_connect=DRIVER%3Dx%3BPWD%3Dhunter2&x=1")
    assert "hunter2" not in shown


def test_an_odbc_password_is_redacted_even_in_braces():
    cs = "DRIVER={ODBC Driver 18 for SQL Server};SERVER=sql1;UID=ess;PWD={pa;ss}}word};Encrypt=yes"
    assert dict(split_odbc(cs))["PWD"] == "pa;ss}word"
    shown = redact_odbc(cs)
    assert "pa;ss" not in shown and "word" not in shown
    assert "SERVER=sql1" in shown and "PWD=***" in shown


@given(st.text(alphabet="abcXYZ019!@#", min_size=4, max_size=20))
def test_no_odbc_password_survives_redaction(password):
    cs = f"Driver={{SQL Server}};Server=s;Pwd={{{password.replace('}', '}}')}}};Database=d"
    assert f"={password}" not in redact_odbc(cs).replace("Pwd=***", "")


def test_scrub_removes_every_secret():
    assert scrub("failed for x:hunter2@db", ["hunter2"]) == "failed for x:***@db"


def test_a_protected_number_keeps_only_its_last_three_digits():
    assert mask_number("123456782") == "*****782"
    assert mask_number(None) is None
