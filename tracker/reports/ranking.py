"""Placeholder: filled in by the ranking report."""


def api_payload(user, args) -> dict:
    raise NotImplementedError
