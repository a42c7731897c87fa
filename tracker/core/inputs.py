"""Untrusted input at the edge: ids bounded to what the database can hold, JSON nesting, JSON types.

SQLite raises OverflowError for integers beyond 64 bits and PostgreSQL refuses a parameter out of
its column's range (our ids are INTEGER columns: 32 bits there); a wrong id must be a 404 or a 422,
never a 500, so every id from a path, a query string, a form or a JSON body goes through
`IdConverter` or `parse_id`.
"""

import json

from flask import abort, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.routing import IntegerConverter

from tracker.core.errors import ValidationFailed

MAX_ID = 2**31 - 1  # the largest id an INTEGER column holds on PostgreSQL (SQLite would take 2**63 - 1)
MAX_JSON_DEPTH = 32  # no request body of ours nests deeper than a few levels


def parse_id(value) -> int | None:
    """VALUE as a database id (1…MAX_ID), or None when it is empty, not a whole number, or out of range.
    Accepts an int (not a bool) or a string of ASCII digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not (value.isascii() and value.isdigit()) or len(value) > 12:
            return None
        value = int(value)
    if not isinstance(value, int):
        return None
    return value if 1 <= value <= MAX_ID else None


def parse_ids(values) -> list[int] | None:
    """A list of ids, or None when VALUES is not a list or any item is not an id (see parse_id)."""
    if not isinstance(values, list | tuple):
        return None
    ids = [parse_id(v) for v in values]
    return None if any(i is None for i in ids) else ids


class IdConverter(IntegerConverter):
    """`<int:…>` in a URL: 1…MAX_ID; anything else does not match the route, so it is a plain 404."""

    def __init__(self, url_map, fixed_digits=0, min=1, max=MAX_ID, signed=False):  # noqa: A002 - werkzeug's names
        super().__init__(url_map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing bodies nested deeper than MAX_JSON_DEPTH (a deep enough body makes the
    parser raise RecursionError; a merely deep one would do so later, when stored or answered).
    The ValueError raised here makes request.get_json() answer 400."""

    def loads(self, s, **kwargs):
        try:
            data = json.loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
        if _depth_exceeds(data, MAX_JSON_DEPTH):
            raise ValueError("JSON nested too deeply")
        return data


def refuse_json_to_pages():
    """before_request hook: pages take forms, only /api/ takes JSON (Flask-WTF would read a JSON body
    as the form, and a list or a string there is no form at all)."""
    if request.method not in ("GET", "HEAD", "OPTIONS") and request.is_json and not request.path.startswith("/api/"):
        abort(400)


def _depth_exceeds(data, limit) -> bool:
    stack = [(data, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in item)
    return False


# ---- JSON types ----------------------------------------------------------------------------------

TEXT = "text"
TEXT_OR_NUMBER = "text_or_number"
INTEGER = "integer"
ID = "id"
IDS = "ids"
BOOLEAN = "boolean"
OBJECT = "object"
LIST = "list"
SCALAR = "scalar"

_EXPECTED = {
    TEXT: "应为文本（字符串）。",
    TEXT_OR_NUMBER: "应为文本或数字。",
    INTEGER: "应为整数。",
    ID: "应为有效的编号（正整数）。",
    IDS: "应为编号（正整数）的列表。",
    BOOLEAN: "应为 true 或 false。",
    OBJECT: "应为对象。",
    LIST: "应为列表。",
    SCALAR: "应为文本、数字或 true/false。",
}


def _fits(value, kind) -> bool:
    if kind == TEXT:
        return isinstance(value, str)
    if kind == TEXT_OR_NUMBER:
        return isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool))
    if kind == INTEGER:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_ID
    if kind == ID:
        return parse_id(value) is not None
    if kind == IDS:
        return parse_ids(value) is not None
    if kind == BOOLEAN:
        return isinstance(value, bool)
    if kind == OBJECT:
        return isinstance(value, dict)
    if kind == LIST:
        return isinstance(value, list)
    return value is None or isinstance(value, str | int | float | bool)


def check_json_types(data: dict, types: dict, *, prefix="", message="请求内容的字段类型有误。") -> None:
    """Raise ValidationFailed (422) naming every field of DATA whose value is not of the kind TYPES
    gives it (TEXT, INTEGER, ID, IDS, BOOLEAN, OBJECT, LIST, TEXT_OR_NUMBER). null is always allowed
    (required fields are the services' business); a field TYPES does not name must be a SCALAR."""
    errors = {}
    for name, value in data.items():
        if value is None:
            continue
        kind = types.get(name, SCALAR)
        if not _fits(value, kind):
            errors[f"{prefix}{name}"] = f"{prefix}{name} {_EXPECTED[kind]}"
    if errors:
        raise ValidationFailed(message, errors)
