"""Answers for bad requests: a clear 4xx message, never a stack trace."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from ess.store.history import UnknownJob
from ess.store.registry import UnknownDatabase

logger = logging.getLogger("ess.web")


class NotLoggedIn(Exception):
    """The request has no live administrator session."""


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _answer(request: Request, templates: Jinja2Templates, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


def install(app: FastAPI, templates: Jinja2Templates) -> None:
    """Register the handlers that turn every failure into a short message."""

    async def not_logged_in(request: Request, exc: Exception) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": "Log in first."}, status_code=401)
        return RedirectResponse("/login", status_code=302)

    async def unknown(request: Request, exc: Exception) -> Response:
        return _answer(request, templates, 404, str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _answer(request, templates, exc.status_code, str(exc.detail))

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}"
            for e in exc.errors()
        )
        return _answer(request, templates, 400, f"Bad request: {problems}.")

    async def crashed(request: Request, exc: Exception) -> Response:
        # The details go to the server's log for support; the browser gets no trace.
        logger.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _answer(request, templates, 500, "Something went wrong; see the server's log.")

    app.add_exception_handler(NotLoggedIn, not_logged_in)
    app.add_exception_handler(UnknownDatabase, unknown)
    app.add_exception_handler(UnknownJob, unknown)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(Exception, crashed)
