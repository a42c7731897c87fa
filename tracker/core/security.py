"""Deny by default: every endpoint needs a logged-in user unless it is on PUBLIC_ENDPOINTS."""

from flask import jsonify, redirect, request, url_for
from flask_login import current_user

PUBLIC_ENDPOINTS = {
    "static",
    "auth.login",
    "main.set_language",
    "main.health",
    "main.favicon",
    "api.openapi",
    "public.track",
    "public.api_track",
    "public.results",
}

# Endpoints a user who must change their password may still reach.
PASSWORD_CHANGE_ENDPOINTS = {"auth.change_password", "auth.logout", "static", "main.set_language"}


def is_safe_next(target: str | None) -> bool:
    """Only local paths ("/…", not "//host" or "/\\host") are followed after login."""
    if not target or not target.startswith("/") or target.startswith("//") or target.startswith("/\\"):
        return False
    return not any(ord(c) < 32 for c in target)


def guard():
    """before_request hook: refuse anonymous access to anything not public."""
    endpoint = request.endpoint
    if endpoint in PUBLIC_ENDPOINTS or (endpoint is None and not request.path.startswith("/api/")):
        return None  # unknown pages 404 the same for everyone
    if endpoint is None and _has_valid_bearer_token():
        return None  # an unknown API path (or an id out of range) is a 404 to a caller with a token
    if request.blueprint == "api":
        return None  # the API authenticates every call by bearer token (tracker/api/views.py)
    if not current_user.is_authenticated:
        if request.path.startswith("/api/"):
            return jsonify(error={"code": "unauthorized", "message": "需要登录或有效的 API 令牌。"}), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if current_user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        return redirect(url_for("auth.change_password"))
    return None


def _has_valid_bearer_token() -> bool:
    from tracker.auth.services import user_for_authorization

    return user_for_authorization(request.headers.get("Authorization")) is not None


def set_security_headers(response):
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
    )
    return response
