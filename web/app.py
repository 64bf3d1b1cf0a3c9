"""The FastAPI app behind ESS "Settings > General": login, the page and its JSON endpoints."""

# No `from __future__ import annotations` here: FastAPI must see the route dependencies,
# which are local to the functions that add the routes, as objects rather than strings it
# cannot resolve.

import asyncio
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from ess.store import history as queries
from ess.store.registry import UnknownDatabase, check_name, get_database
from jobs.kinds import RECONCILE, SYNC_FROM_PAYROLL, SYNC_LEAVE_BALANCES
from web import errors
from web.launcher import Busy, Launcher, PreviewFailed, TooManyPreviews
from web.security import (
    CSRF_HEADER,
    SECURITY_HEADERS,
    LoginLimits,
    Sessions,
    client_address,
)
from web.settings import UiSettings

HERE = Path(__file__).resolve().parent
_MAX_FORM_BYTES = 4096


class StartJob(BaseModel):
    """What a Sync button asks for."""

    kind: Literal["sync-from-payroll", "sync-leave-balances", "reconcile"] = "sync-from-payroll"


def create_app(settings: UiSettings) -> FastAPI:
    """The page's app; UiNotConfigured when no administrator password is set."""
    sessions = Sessions(settings.checked_password(), settings.session_hours * 3600)
    launcher = Launcher(settings)
    templates = Jinja2Templates(directory=HERE / "templates")
    app = FastAPI(title="ESS Settings", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    errors.install(app, templates)
    app.add_middleware(BaseHTTPMiddleware, dispatch=_add_security_headers)
    guards = _Guards.of(sessions)
    _add_login_routes(app, sessions, LoginLimits(), templates, guards)
    _add_page_routes(app, sessions, templates, launcher, guards)
    _add_api_routes(app, launcher, guards, _prefect_ui_url())
    return app


def _prefect_ui_url() -> str | None:
    """The configured Prefect server's UI (its API URL without `/api`); None without one."""
    from orchestration.server import configured_api_url

    api = configured_api_url()
    if not api:
        return None
    api = api.rstrip("/")
    return api[: -len("/api")] if api.endswith("/api") else api


def _run_url(prefect_ui: str | None, flow_run_id: str | None) -> str | None:
    """The Prefect UI page of a job's flow run, when there is a server and a valid run id."""
    if prefect_ui is None or not flow_run_id:
        return None
    try:
        run = uuid.UUID(flow_run_id)  # a URL is built only from a real run id
    except ValueError:
        return None
    return f"{prefect_ui}/runs/flow-run/{run}"


async def _add_security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    return response


@dataclass(frozen=True)
class _Guards:
    """The routes' dependencies: a live session, and a live session whose CSRF token checks."""

    session: Callable[[Request], str]
    csrf_checked: Callable[[Request, str], str]

    @classmethod
    def of(cls, sessions: Sessions) -> "_Guards":
        """The guards of this app's sessions."""

        def session(request: Request) -> str:
            session_id = sessions.session_of(request)
            if session_id is None:
                raise errors.NotLoggedIn()
            return session_id

        def csrf_checked(request: Request, session_id: Annotated[str, Depends(session)]) -> str:
            if not sessions.csrf_ok(session_id, request.headers.get(CSRF_HEADER)):
                raise HTTPException(403, "Refused: the request lacks this session's CSRF token.")
            return session_id

        return cls(session, csrf_checked)


def _add_login_routes(
    app: FastAPI,
    sessions: Sessions,
    limits: LoginLimits,
    templates: Jinja2Templates,
    guards: _Guards,
) -> None:
    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        if sessions.session_of(request) is not None:
            return RedirectResponse("/settings/general", status_code=302)
        return templates.TemplateResponse(request, "login.html", {"error": None})

    @app.post("/login", response_class=HTMLResponse)
    async def login(request: Request) -> Response:
        form = await _form(request)
        client = client_address(request)
        # Checking, counting and answering run with no await between them: parallel
        # guesses from one address cannot all slip past the count.
        wait = math.ceil(limits.wait_for(client))
        if wait > 0:
            error = f"Too many wrong passwords from this address: try again in {wait} s."
            refused = templates.TemplateResponse(request, "login.html", {"error": error}, 429)
            refused.headers["Retry-After"] = str(wait)
            return refused
        if not sessions.password_matches(form.get("password", "")):
            limits.failed(client)
            await asyncio.sleep(0.5)  # a guesser waits; a person who mistyped barely notices
            return templates.TemplateResponse(
                request, "login.html", {"error": "Wrong password."}, status_code=401
            )
        limits.succeeded(client)
        response = RedirectResponse("/settings/general", status_code=303)
        # Behind a proxy, the scheme is https only when a trusted proxy said so (uvicorn's
        # --proxy-headers with --forwarded-allow-ips): only then is the cookie Secure.
        sessions.open(response, secure=request.url.scheme == "https")
        return response

    @app.post("/logout")
    async def logout(
        request: Request, session_id: Annotated[str, Depends(guards.session)]
    ) -> Response:
        form = await _form(request)
        if not sessions.csrf_ok(session_id, form.get("csrf")):
            raise HTTPException(403, "Refused: the request lacks this session's CSRF token.")
        response = RedirectResponse("/login", status_code=303)
        sessions.close(request, response)
        return response


def _add_page_routes(
    app: FastAPI,
    sessions: Sessions,
    templates: Jinja2Templates,
    launcher: Launcher,
    guards: _Guards,
) -> None:
    @app.get("/")
    def home(session_id: Annotated[str, Depends(guards.session)]) -> Response:
        return RedirectResponse("/settings/general", status_code=302)

    @app.get("/settings/general", response_class=HTMLResponse)
    def settings_general(
        request: Request, session_id: Annotated[str, Depends(guards.session)]
    ) -> Any:
        return templates.TemplateResponse(
            request,
            "settings_general.html",
            {
                "csrf": sessions.csrf_token(session_id),
                "databases": _statuses(launcher, None),
                "sync_kind": SYNC_FROM_PAYROLL.name,
                "leave_kind": SYNC_LEAVE_BALANCES.name,
                "reconcile_kind": RECONCILE.name,
            },
        )


def _add_api_routes(
    app: FastAPI, launcher: Launcher, guards: _Guards, prefect_ui: str | None
) -> None:
    @app.get("/api/status")
    def status(session_id: Annotated[str, Depends(guards.session)]) -> dict[str, Any]:
        return {"databases": _statuses(launcher, prefect_ui)}

    @app.post("/api/databases/{name}/preview")
    def preview(name: str, session_id: Annotated[str, Depends(guards.csrf_checked)]) -> Response:
        database = _known(name)
        try:
            return JSONResponse(launcher.preview(database))
        except TooManyPreviews as full:
            return JSONResponse({"error": str(full)}, status_code=429)
        except Busy as busy:
            return JSONResponse({"error": str(busy)}, status_code=409)
        except PreviewFailed as failed:
            return JSONResponse({"error": str(failed)}, status_code=502)

    @app.post("/api/databases/{name}/jobs")
    def start(
        name: str, body: StartJob, session_id: Annotated[str, Depends(guards.csrf_checked)]
    ) -> Response:
        database = _known(name)
        try:
            message = launcher.start(database, body.kind)
        except Busy as busy:
            return JSONResponse({"error": str(busy)}, status_code=409)
        return JSONResponse({"message": message}, status_code=202)

    @app.get("/api/log")
    def log(
        session_id: Annotated[str, Depends(guards.session)],
        database: Annotated[str | None, Query(max_length=63)] = None,
        job: Annotated[int | None, Query(ge=1)] = None,
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> dict[str, Any]:
        name = _known(database) if database else None
        if job is not None:
            queries.check_job(job, name)
        result = queries.log_page(name, job, page)
        return {**result.__dict__, "per_page": queries.PER_PAGE}

    @app.get("/api/jobs")
    def jobs(
        session_id: Annotated[str, Depends(guards.session)],
        database: Annotated[str | None, Query(max_length=63)] = None,
    ) -> dict[str, Any]:
        name = _known(database) if database else None
        return {"jobs": queries.recent_jobs(name)}


def _known(name: str) -> str:
    # A malformed name is a 404 like any unknown one, and never reaches a query.
    try:
        check_name(name)
    except ValueError:
        raise UnknownDatabase(f"No payroll database is registered as {name!r}.") from None
    return get_database(name).name


def _statuses(launcher: Launcher, prefect_ui: str | None) -> list[dict[str, Any]]:
    rows = queries.database_rows()
    for row in rows:
        job = row["running"] or row["last_job"] or {}
        row["run_url"] = _run_url(prefect_ui, job.get("flow_run_id"))
        starting = None if row["running"] else launcher.starting(row["name"])
        row["starting"] = starting
        row["busy"] = bool(row["running"] or starting)
    return rows


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (no python-multipart: the page's forms are two fields)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise HTTPException(413, "The form is too large.")
    fields = parse_qs(body.decode(errors="replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}
