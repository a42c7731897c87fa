"""Placeholder: filled in by the dashboard report."""


def api_payload(user, args) -> dict:
    raise NotImplementedError
