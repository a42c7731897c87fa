"""System settings that admins edit: calendar overrides (holidays and make-up working days)."""
