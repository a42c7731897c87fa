"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json."""

ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "required": ["code", "message"],
        }
    },
}

INTAKE_IN = {
    "type": "object",
    "required": ["channel", "external_id", "received_at", "title", "body"],
    "properties": {
        "channel": {"type": "string", "description": "渠道, one of the channel list (e.g. 12345 热线)"},
        "kind": {"type": "string", "enum": ["差评", "投诉", "意见建议", "评议意见", "暗访问题"], "default": "投诉"},
        "external_id": {"type": "string", "maxLength": 100, "description": "the source system's id"},
        "received_at": {"type": "string", "format": "date-time", "description": "ISO-8601; no offset = Beijing time"},
        "title": {"type": "string", "maxLength": 200},
        "body": {"type": "string", "maxLength": 20000},
        "rating": {
            "description": "1–5 or 非常满意/满意/基本满意/不满意/非常不满意",
            "type": ["integer", "string", "null"],
        },
        "service_item": {"type": ["string", "null"]},
        "unit_code": {"type": ["string", "null"]},
        "category": {"type": ["string", "null"]},
        "reply": {"type": ["string", "null"], "description": "答复 / 处理结果 the source system already gave"},
        "complainant": {
            "type": ["object", "null"],
            "properties": {"name": {"type": ["string", "null"]}, "phone": {"type": ["string", "null"]}},
        },
        "anonymous": {"type": "boolean", "default": False},
    },
}

INTAKE_OUT = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "tracking_code": {"type": "string"},
        "query_pin": {"type": "string", "description": "only in the 201 answer that created the record"},
        "channel": {"type": "string"},
        "kind": {"type": "string"},
        "external_id": {"type": "string"},
        "received_at": {"type": "string", "format": "date-time"},
        "title": {"type": "string"},
        "body": {"type": "string"},
        "rating": {"type": ["integer", "null"]},
        "unit_code": {"type": ["string", "null"]},
        "reply": {"type": ["string", "null"]},
        "handling": {"type": "string"},
        "problem": {"type": ["string", "null"]},
        "complainant": {
            "type": "object",
            "description": "full for inspectors and admins, masked for leaders; for unit users name and phone "
            "are null, hidden is true and message says 反映人信息已保密 (anonymous is null too)",
        },
    },
}


def _errors(*codes):
    return {str(code): {"description": "error", "content": {"application/json": {"schema": ERROR}}} for code in codes}


NUMBER = {
    "name": "number",
    "in": "path",
    "required": True,
    "description": "the problem number, e.g. ZG-2026-000123",
    "schema": {"type": "string", "examples": ["ZG-2026-000123"]},
}


EXTENSION_OUT = {
    "type": "object",
    "description": "延期申请",
    "properties": {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": ["pending", "approved", "refused"]},
        "reason": {"type": "string"},
        "current_deadline": {"type": ["string", "null"], "format": "date", "description": "the deadline when asked"},
        "requested_deadline": {"type": "string", "format": "date"},
        "requested_by": {"type": ["string", "null"], "description": "username"},
        "created_at": {"type": "string", "format": "date-time"},
        "decided_by": {"type": ["string", "null"], "description": "username"},
        "decided_at": {"type": ["string", "null"], "format": "date-time"},
        "note": {"type": ["string", "null"], "description": "the inspector's note (required to refuse)"},
    },
}

RATE = {"type": ["number", "null"], "description": "percent, one decimal; null when there is nothing to divide by"}

RANKING_ROW = {
    "type": "object",
    "description": "one responsible unit; every figure counts the unit's own problems (not its sub-units)",
    "properties": {
        "unit_id": {"type": ["integer", "null"]},
        "unit_code": {"type": ["string", "null"]},
        "unit": {"type": ["string", "null"]},
        "received": {"type": "integer", "description": "intake records received (upheld appeals left out)"},
        "assigned": {"type": "integer", "description": "problems assigned in the period"},
        "closed": {"type": "integer", "description": "problems signed off in the period"},
        "on_time_original": {"type": "integer", "description": "closed by the original deadline"},
        "on_time_extended": {
            "type": "integer",
            "description": "closed after the original deadline, by the one an approved extension set",
        },
        "late": {"type": "integer", "description": "closed after the deadline"},
        "on_time_rate": RATE,
        "original_rate": RATE,
        "overdue_now": {"type": "integer", "description": "open and past the deadline today, whatever the period"},
        "avg_working_days": {"type": ["number", "null"], "description": "working days from assignment to sign-off"},
        "rework": {"type": "integer"},
        "relapse": {"type": "integer"},
        "followed_up": {"type": "integer"},
        "satisfied": {"type": "integer", "description": "满意 and 基本满意"},
        "satisfaction_rate": RATE,
        "notices": {"type": "integer", "description": "supervision notices issued in the period"},
        "rank": {"type": ["integer", "null"], "description": "null for units with nothing closed or overdue"},
        "flagged": {"type": "boolean", "description": "at the bottom this period and the previous one (约谈)"},
    },
}


def _query(name, description, schema=None):
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


PERIOD_PARAMETERS = [
    _query("from", "first day, YYYY-MM-DD (custom dates; with `to`)", {"type": "string", "format": "date"}),
    _query("to", "last day, YYYY-MM-DD", {"type": "string", "format": "date"}),
    _query(
        "period",
        "month | quarter | year | week | custom",
        {"type": "string", "enum": ["month", "quarter", "year", "week", "custom"]},
    ),
    _query("month", "YYYY-MM (period=month)"),
    _query("quarter", "YYYY-Qn, e.g. 2026-Q4 (period=quarter)"),
    _query("year", "YYYY (period=year)"),
]


SPEC = {
    "openapi": "3.1.0",
    "info": {
        "title": "三色整改台账 API",
        "version": "1.0.0",
        "description": "Bearer tokens from `flask tokens create NAME --user USERNAME`; "
        "a token acts as its user, with the same access rules as the pages.",
    },
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": ERROR,
            "IntakeIn": INTAKE_IN,
            "IntakeOut": INTAKE_OUT,
            "Extension": EXTENSION_OUT,
            "RankingRow": RANKING_ROW,
        },
    },
    "security": [{"bearer": []}],
    "paths": {
        "/intake": {
            "post": {
                "summary": "Register one intake record (idempotent on channel + external_id)",
                "requestBody": {"required": True, "content": {"application/json": {"schema": INTAKE_IN}}},
                "responses": {
                    "201": {"description": "created", "content": {"application/json": {"schema": INTAKE_OUT}}},
                    "200": {
                        "description": "already registered: the existing record",
                        "content": {"application/json": {"schema": INTAKE_OUT}},
                    },
                    **_errors(400, 401, 403, 422),
                },
            }
        },
        "/intake/bulk": {
            "post": {
                "summary": "One handling action over many intake records, chosen by ids or by the inbox filter; "
                "each record all or nothing, the others skipped with the reason",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["action"],
                                "description": "give ids or filter, not both",
                                "properties": {
                                    "action": {
                                        "type": "string",
                                        "enum": [
                                            "to_problem",
                                            "merge",
                                            "quick_fix",
                                            "explain",
                                            "duplicate",
                                            "set_unit",
                                        ],
                                        "description": "to_problem: one problem each; merge: one problem for all "
                                        "(一事多诉); quick_fix: one quick-fix problem each; explain: no problem, "
                                        "one explanation for all; duplicate: join an open problem; set_unit: "
                                        "change the unit of unhandled records",
                                    },
                                    "ids": {"type": "array", "items": {"type": "integer", "minimum": 1}},
                                    "filter": {
                                        "type": "object",
                                        "description": "the inbox filter; handling defaults to new",
                                        "properties": {
                                            "handling": {"type": "string"},
                                            "channel": {"type": "string"},
                                            "kind": {"type": "string"},
                                            "unit": {"type": "integer", "description": "unit id (and its sub-units)"},
                                            "unit_code": {"type": "string"},
                                            "date_from": {"type": "string", "format": "date"},
                                            "date_to": {"type": "string", "format": "date"},
                                            "q": {"type": "string"},
                                        },
                                        "additionalProperties": False,
                                    },
                                    "title": {"type": "string", "maxLength": 200, "description": "merge (optional)"},
                                    "explanation": {"type": "string", "minLength": 5, "description": "explain"},
                                    "problem": {"type": "string", "description": "duplicate: the problem number"},
                                    "unit_code": {"type": "string", "description": "set_unit"},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "what was done",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "done": {"type": "integer"},
                                        "problem": {
                                            "type": ["string", "null"],
                                            "description": "merge: the new problem; duplicate: the one joined",
                                        },
                                        "problems": {
                                            "type": "array",
                                            "items": {"type": "string"},
                                            "description": "to_problem and quick_fix: the new problems",
                                        },
                                        "skipped": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {"id": {"type": "integer"}, "reason": {"type": "string"}},
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    **_errors(400, 401, 403, 409, 422),
                },
            }
        },
        "/intake/{id}": {
            "get": {
                "summary": "One intake record as the caller may see it",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {
                    "200": {"description": "the record", "content": {"application/json": {"schema": INTAKE_OUT}}},
                    **_errors(401, 404),
                },
            }
        },
        "/intake/{id}/reveal": {
            "post": {
                "summary": "The complainant's whole name and phone (inspectors and admins; every call is audited)",
                "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "{id, complainant: {name, phone}}"}, **_errors(401, 403, 404)},
            }
        },
        "/problems": {
            "get": {
                "summary": "The ledger as the caller may see it (filters: status, tier, unit, overdue, q, "
                "assigned_from, assigned_to; cursor pagination with next_cursor)",
                "responses": {"200": {"description": "items and next_cursor"}, **_errors(401, 422)},
            },
            "post": {
                "summary": "A new problem (state new) from intake records, with the suggested tier and reasons",
                "responses": {"201": {"description": "the problem"}, **_errors(400, 401, 403, 404, 422)},
            },
        },
        "/problems/{number}": {
            "parameters": [NUMBER],
            "get": {
                "summary": "One problem with version, status, deadlines, owners, counters, "
                "intake records (identity masked by role)",
                "responses": {"200": {"description": "the problem"}, **_errors(401, 404)},
            },
        },
        "/problems/{number}/transitions": {
            "parameters": [NUMBER],
            "post": {
                "summary": "Take a workflow action: {action, version, …}; assign takes tier, unit_code, owner, leader?, "
                "measures, deadline?; approve takes opinion (审核意见, required); submit takes report and, "
                "while milestones are open, milestones: [{id, done?, explanation?}] (each done or explained); "
                "others take reason, withdraw_reason as they need",
                "responses": {
                    "200": {"description": "the problem after the action"},
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            },
        },
        "/problems/{number}/evidence": {
            "parameters": [NUMBER],
            "post": {
                "summary": "Upload one evidence file (multipart, field `file`); type judged from the content",
                "responses": {"201": {"description": "the stored file"}, **_errors(401, 403, 404, 413, 422)},
            },
        },
        "/alerts": {
            "get": {
                "summary": "Open alerts (problem=<number> for one problem; open=0 for resolved too)",
                "responses": {"200": {"description": "items"}, **_errors(401, 404)},
            }
        },
        "/problems/{number}/extensions": {
            "parameters": [NUMBER],
            "post": {
                "summary": "The unit asks for a later deadline (延期申请); one pending request at a time",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["new_deadline", "reason"],
                                "properties": {
                                    "new_deadline": {
                                        "type": "string",
                                        "format": "date",
                                        "description": "a working day, not in the past, after the current deadline",
                                    },
                                    "reason": {"type": "string", "maxLength": 2000},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": {
                        "description": "the pending request",
                        "content": {"application/json": {"schema": EXTENSION_OUT}},
                    },
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            },
        },
        "/problems/{number}/extensions/{id}": {
            "parameters": [
                NUMBER,
                {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "description": "the request's id",
                    "schema": {"type": "integer"},
                },
            ],
            "post": {
                "summary": "The inspector decides: an approval moves `deadline` (`original_deadline` stays); "
                "a refusal needs a note",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["approve"],
                                "properties": {
                                    "approve": {"type": "boolean"},
                                    "note": {"type": "string", "description": "required when approve is false"},
                                    "version": {
                                        "type": "integer",
                                        "description": "the problem's version (409 when stale)",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "the problem (as GET /problems/{number}) with `extension`, the decided request",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "number": {"type": "string"},
                                        "version": {"type": "integer"},
                                        "deadline": {"type": ["string", "null"], "format": "date"},
                                        "original_deadline": {"type": ["string", "null"], "format": "date"},
                                        "extension": EXTENSION_OUT,
                                    },
                                }
                            }
                        },
                    },
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            },
        },
        "/reports/dashboard": {
            "get": {
                "summary": "The leader's figures (领导驾驶舱) in the caller's scope: open by tier and status, overdue "
                "and the worst overdue items, due this week, intake this week and last, closed (on time) and "
                "follow-up satisfaction in the period (default the current month)",
                "parameters": PERIOD_PARAMETERS,
                "responses": {
                    "200": {
                        "description": "the figures",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "date": {"type": "string", "format": "date"},
                                        "period": {"type": "object"},
                                        "open": {"type": "object", "description": "{total, by_tier, by_status}"},
                                        "overdue": {"type": "object", "description": "{count, worst: [...]}"},
                                        "due_this_week": {"type": "object", "description": "{from, to, count}"},
                                        "intake": {"type": "object", "description": "{this_week, last_week}"},
                                        "closed": {"type": "object", "description": "{total, on_time, by_timeliness}"},
                                        "satisfaction": {"type": "object"},
                                    },
                                }
                            }
                        },
                    },
                    **_errors(401, 403, 422),
                },
            }
        },
        "/reports/ranking": {
            "get": {
                "summary": "Unit ranking (排名通报): one row per unit in the caller's scope, the same numbers as the "
                "ranking page and /reports/ranking.xlsx with the same query string (default the current quarter)",
                "parameters": [
                    *PERIOD_PARAMETERS,
                    _query(
                        "unit",
                        "rank within this unit's subtree (unit id; 404 outside the caller's scope)",
                        {"type": "integer"},
                    ),
                    _query("sort", "a figure's name to sort by"),
                    _query("dir", "asc | desc", {"type": "string", "enum": ["asc", "desc"]}),
                ],
                "responses": {
                    "200": {
                        "description": "the ranking",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "from": {"type": "string", "format": "date"},
                                        "to": {"type": "string", "format": "date"},
                                        "label": {"type": "string"},
                                        "items": {"type": "array", "items": RANKING_ROW},
                                        "totals": {
                                            "type": "object",
                                            "description": "the figures summed over the items",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    **_errors(401, 403, 404, 422),
                },
            }
        },
        "/reports/overdue": {
            "get": {
                "summary": "Overdue problems grouped by unit, worst first; `total` and each unit's `count` count every "
                "overdue problem in scope, however many; each unit lists its first `limit` problems",
                "parameters": [
                    _query(
                        "limit",
                        "problems listed per unit (default 100, at most 1000)",
                        {"type": "integer", "minimum": 1},
                    ),
                    _query(
                        "unit", "one unit and its sub-units (id; 404 outside the caller's scope)", {"type": "integer"}
                    ),
                    _query("unit_code", "the same by code"),
                    _query("tier", "red | yellow | blue | quick_fix"),
                ],
                "responses": {
                    "200": {
                        "description": "the report",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "date": {"type": "string", "format": "date"},
                                        "total": {"type": "integer"},
                                        "limit": {"type": "integer"},
                                        "units": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "unit_code": {"type": ["string", "null"]},
                                                    "unit": {"type": ["string", "null"]},
                                                    "count": {"type": "integer"},
                                                    "problems": {
                                                        "type": "array",
                                                        "items": {
                                                            "type": "object",
                                                            "properties": {
                                                                "number": {"type": "string"},
                                                                "title": {"type": "string"},
                                                                "tier": {"type": ["string", "null"]},
                                                                "quick_fix": {"type": "boolean"},
                                                                "deadline": {"type": "string", "format": "date"},
                                                                "original_deadline": {
                                                                    "type": ["string", "null"],
                                                                    "format": "date",
                                                                },
                                                                "days_overdue": {
                                                                    "type": "integer",
                                                                    "description": "working days",
                                                                },
                                                                "owner": {"type": ["string", "null"]},
                                                                "leader": {"type": ["string", "null"]},
                                                                "escalation": {"type": ["string", "null"]},
                                                                "last_progress": {"type": ["string", "null"]},
                                                            },
                                                        },
                                                    },
                                                },
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    **_errors(401, 404),
                },
            }
        },
        "/inspections": {
            "post": {
                "summary": "A covert re-inspection batch (暗访复查): {method: sweep|random|targeted, filter?: {unit_code?, "
                "category?, tier?, status?, closed_from?, closed_to?}, sample_size? | sample_percent?, seed?, "
                "problems?: [numbers] (targeted), inspectors?: [usernames] (the pool), per_problem?, "
                "double_random?, title?}. The seed is chosen and returned when absent; the same method, filter, "
                "size, seed and pool over the same population draw the same problems and inspectors",
                "responses": {
                    "201": {"description": "{id, number, method, seed, population, problems: [{number, inspectors}]}"},
                    **_errors(400, 401, 403, 422),
                },
            }
        },
        "/inspections/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "get": {
                "summary": "One batch with its plan and items (inspectors and admins; 404 to anyone else)",
                "responses": {"200": {"description": "the batch"}, **_errors(401, 404)},
            },
        },
        "/inspections/{id}/visits": {
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "post": {
                "summary": "Record a visit: {problem, visited_on, way: 模拟办事|走访群众|现场查看|隐秘拍摄, "
                "inspectors?: [usernames], findings, result: pass|fail}. A fail sends the problem back to its "
                "unit (rework; a relapse 反弹 when it was closed)",
                "responses": {"201": {"description": "the visit"}, **_errors(400, 401, 404, 409, 422)},
            },
        },
        "/followups": {
            "get": {
                "summary": "Intake records to call back (problem closed or record explained), oldest first",
                "responses": {"200": {"description": "items, skipped counts"}, **_errors(401, 403)},
            },
            "post": {
                "summary": "Record a call: {intake_id, outcome: satisfied|basically_satisfied|unsatisfied|unreachable, "
                "note?}",
                "responses": {
                    "201": {"description": "the call and the record's follow-up state"},
                    **_errors(400, 401, 403, 404, 409, 422),
                },
            },
        },
        "/public/track": {
            "post": {
                "summary": "No login: {code, pin} → the public state of one case; the same 404 for a wrong code "
                "and a wrong PIN; 429 past the per-address limit",
                "security": [],
                "responses": {
                    "200": {"description": "{code, status, status_label, unit, deadline, reply}"},
                    **_errors(400, 404, 422, 429),
                },
            }
        },
        "/openapi.json": {
            "get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}
        },
    },
}
