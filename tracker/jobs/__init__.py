"""Scheduled jobs: the one registry and the scheduler runner."""
