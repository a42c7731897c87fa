"""Triage: red/yellow/blue tier suggestions with reasons, and deadline templates."""
