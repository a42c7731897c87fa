"""The problem ledger (问题台账): problems, milestones, progress, evidence, queries."""
