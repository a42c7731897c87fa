"""Authentication: users, login and logout, passwords, lockout."""
