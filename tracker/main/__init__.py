"""Home pages per role, language switch, health check."""
