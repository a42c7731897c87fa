"""Access control: roles, named permissions, unit scoping."""
