"""Offset pagination for short admin lists (the ledger uses keyset pagination instead)."""

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select

from tracker.extensions import db


@dataclass
class Page:
    items: list
    number: int
    per_page: int
    total: int

    @property
    def pages(self):
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self):
        return self.number > 1

    @property
    def has_next(self):
        return self.number < self.pages


def page_number(page_arg, total: int, per_page: int) -> int:
    """The page PAGE_ARG asks for, within 1 … the last page of TOTAL items (garbage → page 1)."""
    try:
        number = max(1, int(page_arg or 1))
    except (TypeError, ValueError):
        number = 1
    return min(number, max(1, -(-total // per_page)))


def paginate(stmt, page_arg, per_page=None) -> Page:
    """Run STMT for page PAGE_ARG (garbage → page 1)."""
    per_page = per_page or current_app.config["PAGE_SIZE"]
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    number = page_number(page_arg, total, per_page)
    items = list(db.session.scalars(stmt.limit(per_page).offset((number - 1) * per_page)))
    return Page(items, number, per_page, total)
