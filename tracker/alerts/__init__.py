"""Alerts and notifications: deadline scans, the inbox, e-mail and group-robot webhooks."""
