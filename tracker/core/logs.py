"""Logs for operations: every line carries the request id (also sent back as X-Request-ID, taken
from the proxy's header when it has a sane one), and with LOG_FORMAT=json each line is one JSON
object for a log collector. One line per request (LOG_REQUESTS) says method, route, status and
time — the path without its query string, and nothing about complainants: search terms, names and
phones never reach the log."""

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime

from flask import g, has_request_context, request

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
FIELDS = ("method", "path", "endpoint", "status", "ms", "user_id")
requests_log = logging.getLogger("tracker.requests")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record ("-" outside a request)."""

    def filter(self, record):
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record):
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        line.update({name: getattr(record, name) for name in FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def handler(fmt: str, stream=None) -> logging.Handler:
    """A stream handler (stderr by default) in FMT ("json" or "text") with the request id filter."""
    out = logging.StreamHandler(stream)
    out.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    out.addFilter(RequestIdFilter())
    return out


def configure(app) -> None:
    """The root logger of a server or scheduler process, from LOG_FORMAT and LOG_LEVEL."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_tracker", False)]:
        root.removeHandler(old)
    out = handler(app.config["LOG_FORMAT"])
    out._tracker = True
    root.addHandler(out)
    root.setLevel(str(app.config["LOG_LEVEL"]).upper())  # "info" as gunicorn spells it, or "INFO"


def init_app(app) -> None:
    """Request ids on every request, and the per-request line; the handlers only outside tests."""

    @app.before_request
    def _start():
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        if app.config["LOG_REQUESTS"] and request.endpoint != "static":
            from flask_login import current_user

            requests_log.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "endpoint": request.endpoint,
                    "status": response.status_code,
                    "ms": round((time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000, 1),
                    "user_id": _user_id(current_user),
                },
            )
        return response

    if not app.debug and not app.testing:
        configure(app)


def _user_id(user) -> int | None:
    """The id of the signed-in user or of the API token's user (never the session's key)."""
    if user is not None and user.is_authenticated:
        return user.id
    api_user = g.get("api_user")
    return api_user.id if api_user is not None else None
