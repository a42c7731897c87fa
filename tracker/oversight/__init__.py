"""Oversight: supervision notices (督办单); later covert re-inspection and follow-up calls."""
