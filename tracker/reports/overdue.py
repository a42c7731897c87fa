"""Placeholder: filled in by the overdue report."""


def api_payload(user, args) -> dict:
    raise NotImplementedError
