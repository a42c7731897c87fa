"""Shared plumbing: clock, calendar, database helpers, errors, security guard, HTML cleaning."""
