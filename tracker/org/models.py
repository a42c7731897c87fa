"""Units: the responsible bodies, as a tree (system → unit → sub-unit)."""

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.core.db import TimestampMixin, VersionedMixin
from tracker.extensions import db

leader_units = Table(
    "leader_units",
    db.metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", Integer, ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
)


class Unit(TimestampMixin, VersionedMixin, db.Model):
    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    contact: Mapped[str | None] = mapped_column(String(100))

    parent: Mapped["Unit | None"] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list["Unit"]] = relationship(back_populates="parent", order_by="Unit.code")

    def __repr__(self):
        return f"<Unit {self.code}>"

    @property
    def unit_id(self):
        """A unit is scoped by itself (lets the access policy treat units like any scoped object)."""
        return self.id

    @property
    def path_name(self):
        """上级 / … / 本单位, from the request's unit tree (one query, not one per level)."""
        if self.parent_id is None:
            return self.name
        from tracker.org.queries import units_by_id

        by_id = units_by_id()
        names, node, seen = [], self, set()
        while node is not None and node.id not in seen:
            seen.add(node.id)
            names.append(node.name)
            node = by_id.get(node.parent_id) if node.parent_id in by_id else node.parent
        return " / ".join(reversed(names))

    def audit_state(self):
        return {
            "code": self.code,
            "name": self.name,
            "parent_id": self.parent_id,
            "is_active": self.is_active,
            "contact": self.contact,
        }
