"""The public lookup: a tracking code and query PIN → what the public may know of one case.

Only public words leave this module: a status in the users' words (never the ledger's states),
the responsible unit's name, the deadline as a date and the published reply. A wrong code and a
wrong PIN raise the same NotFound, and the PIN is compared in constant time either way.
"""

import hmac
import unicodedata

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from tracker.core import crypto
from tracker.core.errors import NotFound, ValidationFailed
from tracker.core.words import N_
from tracker.extensions import db
from tracker.intake.models import Handling, IntakeRecord
from tracker.intake.services import TRACKING_ALPHABET
from tracker.ledger.models import Problem, Status
from tracker.org.models import Unit

CODE_LENGTH = 10  # tracker.intake.services.new_tracking_code
PIN_LENGTH = 6  # tracker.intake.services.new_query_pin

# Public status codes (the API's `status`) and their words; nothing else reaches the public.
RECEIVED, PROCESSING, CLOSED, ANSWERED = "received", "processing", "closed", "answered"
PUBLIC_STATUS_LABELS = {
    RECEIVED: N_("已受理"),
    PROCESSING: N_("办理中"),
    CLOSED: N_("已办结"),
    ANSWERED: N_("已答复"),
}
# The ledger's states as the public reads them: every open state is "being handled"; a withdrawn
# problem (不属实 / 重复 / 不予受理) is finished as far as the complainant is concerned.
PROBLEM_STATUS = {
    Status.NEW: RECEIVED,
    Status.ASSIGNED: PROCESSING,
    Status.IN_PROGRESS: PROCESSING,
    Status.SUBMITTED: PROCESSING,
    Status.VERIFYING: PROCESSING,
    Status.CLOSED: CLOSED,
    Status.WITHDRAWN: CLOSED,
}
# Records not (yet) on the ledger. An appeal (申诉复核) is being looked into; an upheld appeal ends it.
HANDLING_STATUS = {
    Handling.NEW: RECEIVED,
    Handling.APPEAL_PENDING: PROCESSING,
    Handling.APPEAL_UPHELD: CLOSED,
    Handling.EXPLAINED: ANSWERED,
}
_MAX_DUPLICATE_HOPS = 5  # a duplicate of a duplicate …: a guard against a cycle in bad data


def normalize_code(raw) -> str:
    """The code as stored: full-width letters folded (ＡＢ → AB), spaces and dashes dropped, upper case."""
    text = unicodedata.normalize("NFKC", raw if isinstance(raw, str) else "")
    return "".join(ch for ch in text if not ch.isspace() and ch not in "-－—_").upper()


def code_shape_message() -> str:
    return _(
        "查询码为 %(n)d 位，由数字 2–9 和大写字母组成（不含 0、1、I、L、O），见登记回执或短信，例如 %(e)s。",
        n=CODE_LENGTH,
        e="7KQ4MZP2XH",
    )


def check_input(code, pin) -> tuple[str, str]:
    """(code, pin) cleaned; raises ValidationFailed naming the field for a missing value, a value
    that is not text, or a code or PIN of the wrong shape. The shape depends on nothing stored."""
    errors = {}
    if code is None or (isinstance(code, str) and not code.strip()):
        errors["code"] = _("请填写查询码。")
    elif not isinstance(code, str):
        errors["code"] = code_shape_message()
    else:
        code = normalize_code(code)
        if len(code) != CODE_LENGTH or any(ch not in TRACKING_ALPHABET for ch in code):
            errors["code"] = code_shape_message()
    if isinstance(pin, int) and not isinstance(pin, bool):
        pin = f"{pin:0{PIN_LENGTH}d}"
    if pin is None or (isinstance(pin, str) and not pin.strip()):
        errors["pin"] = _("请填写查询密码。")
    elif not isinstance(pin, str):
        errors["pin"] = _("查询密码为 %(n)d 位数字。", n=PIN_LENGTH)
    else:
        pin = unicodedata.normalize("NFKC", pin).strip()
        if len(pin) != PIN_LENGTH or not pin.isascii() or not pin.isdigit():
            errors["pin"] = _("查询密码为 %(n)d 位数字。", n=PIN_LENGTH)
    if errors:
        raise ValidationFailed(
            next(iter(errors.values())) if len(errors) == 1 else _("请按提示填写查询码和查询密码。"), errors
        )
    return code, pin


def not_found_message() -> str:
    return _("查询码或查询密码不正确，请核对后重新输入。")


def _columns():
    return (
        IntakeRecord.handling,
        IntakeRecord.explanation,
        IntakeRecord.duplicate_of_id,
        Problem.status,
        Problem.deadline,
        Problem.public_reply,
        Unit.name,
    )


def _case_query(where):
    return (
        select(*_columns())
        .select_from(IntakeRecord)
        .outerjoin(Problem, Problem.id == IntakeRecord.problem_id)
        .outerjoin(Unit, Unit.id == Problem.unit_id)
        .where(where)
    )


# Built once: the lookup runs the same two statements with a bound value, so SQLAlchemy neither
# rebuilds nor re-keys them per request (the public lookup's budget is 20 ms at 3,000,000 records).
_BY_CODE = _case_query(IntakeRecord.tracking_code == bindparam("code")).add_columns(IntakeRecord.query_pin_enc)
_BY_ID = _case_query(IntakeRecord.id == bindparam("id"))


def _dummy_token() -> str:
    """An encrypted PIN to check against when no record has the code: both answers cost the same.
    Made once per key configuration (the keys can rotate)."""
    config = current_app.config
    source = (config.get("FIELD_ENCRYPTION_KEYS") or "", config["SECRET_KEY"])
    cached = current_app.extensions.get("tracker_public_dummy_pin")
    if cached is None or cached[0] != source:
        cached = current_app.extensions["tracker_public_dummy_pin"] = (source, crypto.encrypt("0" * PIN_LENGTH))
    return cached[1]


def _stored_pin(token) -> str:
    """The clear PIN, or "" when no configured key opens it (then nothing matches: the same 404)."""
    try:
        return crypto.decrypt(token) or ""
    except crypto.InvalidToken:
        return ""


def lookup(code, pin) -> dict:
    """The public view of the case with tracking code CODE, when PIN is its query PIN:
    {code, status, status_label, unit, deadline, reply}. One indexed lookup by tracking code (the
    problem and unit joined by primary key). Raises ValidationFailed for input of the wrong shape
    and NotFound, with the same message, for an unknown code and for a wrong PIN."""
    code, pin = check_input(code, pin)
    connection = db.session.connection()  # Core: one plain SELECT, no ORM bookkeeping
    row = connection.execute(_BY_CODE, {"code": code}).first()
    stored = _stored_pin(row.query_pin_enc if row is not None else _dummy_token())
    matches = hmac.compare_digest(stored.encode("utf-8"), pin.encode("utf-8")) and bool(stored)
    if row is None or not matches:
        raise NotFound(not_found_message())
    hops = 0
    while row.handling == Handling.DUPLICATE and row.duplicate_of_id is not None and hops < _MAX_DUPLICATE_HOPS:
        # 一事多诉: a repeated complaint reads as the case it joined (its state, unit and reply).
        original = connection.execute(_BY_ID, {"id": row.duplicate_of_id}).first()
        if original is None:
            break
        row, hops = original, hops + 1
    return public_view(code, row)


def public_view(code, row) -> dict:
    """The public fields of one case from ROW (handling, explanation, …, unit name; see _columns)."""
    if row.status is not None:  # on the ledger: the problem speaks for the record
        status = PROBLEM_STATUS.get(row.status, PROCESSING)
        reply = row.public_reply
    else:
        status = HANDLING_STATUS.get(row.handling, RECEIVED)
        reply = row.explanation if row.handling == Handling.EXPLAINED else None
    return {
        "code": code,
        "status": status,
        "status_label": _(PUBLIC_STATUS_LABELS[status]),
        "unit": row.name if row.status is not None else None,
        "deadline": row.deadline.isoformat() if row.deadline and row.status is not None else None,
        "reply": reply or None,
    }
