"""Domain errors raised by services; views and the API translate them to HTTP answers."""


class DomainError(Exception):
    """Base class; `message` is shown to the user (already translated), `fields` maps field → message."""

    status = 400
    code = "bad_request"

    def __init__(self, message, fields=None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    """Someone else changed the object since the form was loaded (optimistic locking)."""

    status = 409
    code = "conflict"
