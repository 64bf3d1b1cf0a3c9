"""Which Prefect database `ess-sync serve`'s server keeps, and who is told its connection."""

from pathlib import Path

from orchestration.serve import ServeOptions, client_env, server_env

POSTGRES = "postgresql+asyncpg://prefect:S3cret@127.0.0.1:5432/prefect"
OPTIONS = ServeOptions(Path("/srv/ess"), port=4300)


def test_the_server_keeps_sqlite_in_its_prefect_home_unless_a_database_is_named():
    env = server_env(OPTIONS, {"PREFECT_API_URL": "http://elsewhere:4200/api"})
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == (
        "sqlite+aiosqlite:////srv/ess/prefect/prefect.db"
    )
    assert env["PREFECT_HOME"] == "/srv/ess/prefect"
    assert "PREFECT_API_URL" not in env


def test_the_server_uses_the_postgresql_database_the_environment_names():
    env = server_env(OPTIONS, {"PREFECT_SERVER_DATABASE_CONNECTION_URL": POSTGRES})
    assert env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] == POSTGRES


def test_the_worker_page_and_steps_get_the_served_api_but_not_the_server_s_database():
    environ = {
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": POSTGRES,
        "PREFECT_SERVER_DATABASE_PASSWORD": "S3cret",
        "PREFECT_API_URL": "http://elsewhere:4200/api",
        "ESS_DATABASE_URL": "postgresql+psycopg://ess@dbhost/ess",
    }
    env = client_env(OPTIONS, environ)
    assert env["PREFECT_API_URL"] == "http://127.0.0.1:4300/api"
    assert env["ESS_DATABASE_URL"] == environ["ESS_DATABASE_URL"]
    assert not [name for name in env if name.startswith("PREFECT_SERVER_DATABASE")]
    assert "S3cret" not in "".join(env.values())
