"""Organisation: units as a hierarchy (system → unit → sub-unit) and the people in them."""
