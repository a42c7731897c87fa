"""Problem workflow: states, the transition table, apply()."""
