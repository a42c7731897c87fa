"""Human-readable numbers per year (ZG-2026-000123, 督〔2026〕17号): a counter row per (name, year)."""

from sqlalchemy import Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db


class Sequence(db.Model):
    __tablename__ = "sequences"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


def next_value(name: str, year: int) -> int:
    """The next number for (NAME, YEAR), in the caller's transaction."""
    return reserve(name, year, 1)


def reserve(name: str, year: int, count: int) -> int:
    """Reserve COUNT consecutive numbers for (NAME, YEAR) and return the first. The UPDATE takes a
    row lock, so concurrent transactions get distinct numbers; a rollback gives them back."""
    stmt = (
        update(Sequence)
        .where(Sequence.name == name, Sequence.year == year)
        .values(value=Sequence.value + count)
        .execution_options(synchronize_session=False)  # no need to scan the identity map
    )
    if db.session.execute(stmt).rowcount == 0:
        try:
            with db.session.begin_nested():
                db.session.add(Sequence(name=name, year=year, value=0))
        except IntegrityError:
            pass  # another transaction created the row first; its lock orders us after it
        return reserve(name, year, count)
    last = db.session.scalar(select(Sequence.value).where(Sequence.name == name, Sequence.year == year))
    return last - count + 1
