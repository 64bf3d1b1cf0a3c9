from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from ess.database import ess_engine
from ess.schema import web_api_log
from ess.store.jobs import take_job
from ess.store.log import read_log
from flows.web_api_log_retention import web_api_log_retention
from jobs.kinds import SYNC_FROM_PAYROLL
from tasks.retention import purge_web_api_log


def _add(rows):
    with ess_engine().begin() as conn:
        conn.execute(sa.insert(web_api_log), rows)


def _row(age_days, job_id=None, database="acme_payroll"):
    return {
        "logged_at": datetime.now(UTC) - timedelta(days=age_days),
        "payroll_database": database,
        "job_id": job_id,
        "level": "info",
        "message": f"{age_days} days old",
    }


def test_rows_older_than_a_month_go_in_batches_but_a_running_jobs_stay(ess, prefect_api):
    running = take_job("acme_payroll", SYNC_FROM_PAYROLL.name)
    _add([_row(40) for _ in range(7)] + [_row(40, job_id=running.id), _row(3)])
    assert purge_web_api_log.fn(datetime.now(UTC) - timedelta(days=31), batch=3) == 7
    left = [r.message for r in read_log("acme_payroll", limit=100)]
    assert left.count("40 days old") == 1 and "3 days old" in left


def test_the_retention_flow_logs_how_many_it_removed_and_a_dry_run_removes_none(ess, prefect_api):
    _add([_row(45) for _ in range(4)] + [_row(1)])
    dry = web_api_log_retention(dry_run=True)
    assert dry["removed"] == 4
    assert len(read_log("acme_payroll", limit=100)) == 5
    done = web_api_log_retention()
    assert done["removed"] == 4
    assert [r.message for r in read_log("acme_payroll")] == ["1 days old"]
    last = read_log(None, limit=1)[-1].message
    assert last.startswith("Removed 4 Web API Log row(s) older than ")
