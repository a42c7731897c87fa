"""WSGI entry point for gunicorn and `flask --app wsgi`; never starts the scheduler."""

from tracker import create_app

app = create_app()
