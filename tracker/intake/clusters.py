"""Near-duplicate clusters (类案 / 一事多诉): read-only grouping of similar intake records.

Records are compared with the inbox's own similarity (`queries.similarity`: title and the start of
the body, character level) when they concern the same unit (or, for records without a unit, the
same category) and were received within the similarity window of each other. A cluster is a first
record (its seed) and the later records whose score with it is at or above the threshold. Only pairs that involve at least one of the
records asked about are compared, so that an import of thousands against a large history stays
fast; the rest of the history takes part as "earlier records" that a cluster may contain.
"""

from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from flask_babel import gettext as _
from rapidfuzz import fuzz, process
from sqlalchemy import and_, func, or_, select

from tracker.access import policy
from tracker.extensions import db
from tracker.intake.models import HANDLING_LABELS, Handling, IntakeRecord
from tracker.intake.queries import SIMILARITY_THRESHOLD, SIMILARITY_WINDOW_DAYS, InboxFilter, visible_records
from tracker.ledger.models import OPEN_STATUSES, Problem
from tracker.org.models import Unit

BODY_PREFIX = 300  # what `queries.similarity` compares of the body
TITLE_WEIGHT, BODY_WEIGHT = 0.4, 0.6


@dataclass
class Member:
    id: int
    unit_id: int | None
    category: str | None
    received_at: object
    title: str
    body: str
    handling: str
    problem_id: int | None
    is_target: bool = False
    problem_number: str | None = None
    folded: str = ""
    folded_title: str = ""

    @property
    def handling_label(self):
        return HANDLING_LABELS.get(self.handling, self.handling)

    @property
    def is_new(self):
        return self.handling == Handling.NEW


@dataclass
class Cluster:
    members: list[Member]
    score: float  # the lowest score of a member with the seed
    unit_name: str | None = None
    category: str | None = None
    problems: list[str] = field(default_factory=list)  # open problems some members already belong to

    @property
    def size(self):
        return len(self.members)

    @property
    def new_ids(self) -> list[int]:
        return [m.id for m in self.members if m.is_new]

    @property
    def first_at(self):
        return self.members[0].received_at

    @property
    def last_at(self):
        return self.members[-1].received_at


def _key(member: Member):
    return ("unit", member.unit_id) if member.unit_id is not None else ("category", member.category)


_COLUMNS = (
    IntakeRecord.id,
    IntakeRecord.unit_id,
    IntakeRecord.category,
    IntakeRecord.received_at,
    IntakeRecord.title,
    func.substr(IntakeRecord.body, 1, BODY_PREFIX).label("body"),
    IntakeRecord.handling,
    IntakeRecord.problem_id,
)


def _members(stmt, *, target) -> list[Member]:
    return [Member(*row, is_target=target) for row in db.session.execute(stmt)]


def find(
    user,
    flt: InboxFilter | None = None,
    *,
    batch_id=None,
    window_days=SIMILARITY_WINDOW_DAYS,
    threshold=SIMILARITY_THRESHOLD,
) -> list[Cluster]:
    """Clusters of the records USER may see that match FLT (default: the unhandled ones), or of the
    records of import BATCH_ID, with the similar records around them; largest first."""
    if batch_id is not None:
        targets_stmt = visible_records(user, InboxFilter(handling="all")).where(
            IntakeRecord.import_batch_id == batch_id
        )
    else:
        targets_stmt = visible_records(user, flt or InboxFilter())
    targets = _members(targets_stmt.order_by(None).with_only_columns(*_COLUMNS), target=True)
    if not targets:
        return []
    window = timedelta(days=window_days)
    others = _surrounding(user, targets, window)
    groups = {}
    for member in targets + others:
        groups.setdefault(_key(member), ([], []))[0 if member.is_target else 1].append(member)
    neighbours = {}

    def link(a, b, score):
        neighbours.setdefault(a.id, {})[b.id] = score
        neighbours.setdefault(b.id, {})[a.id] = score

    _fold(targets + others)
    for group_targets, group_others in groups.values():
        _compare(group_targets, group_others, window, threshold, link)
    clusters = _around_seeds([m for m in targets + others if m.id in neighbours], neighbours)
    clusters.sort(key=lambda c: (-c.size, -c.last_at.timestamp(), c.members[0].id))
    _describe(clusters)
    return clusters


def _around_seeds(members: list[Member], neighbours: dict) -> list[Cluster]:
    """Clusters in which every record is similar to the cluster's first record (its seed), so that
    a chain of look-alikes (A like B, B like C, …) never grows into one huge cluster. In time order,
    a record joins the seed it is most similar to, or becomes a seed itself."""
    members.sort(key=lambda m: (m.received_at, m.id))
    seeds = {}
    for member in members:
        scores = neighbours[member.id]
        best = max((score, seed) for seed, score in scores.items() if seed in seeds) if seeds.keys() & scores else None
        if best is None:
            seeds[member.id] = Cluster(members=[member], score=100.0)
        else:
            cluster = seeds[best[1]]
            cluster.members.append(member)
            cluster.score = min(cluster.score, best[0])
    return [c for c in seeds.values() if c.size > 1 and any(m.is_target for m in c.members)]


def _surrounding(user, targets: list[Member], window) -> list[Member]:
    """The other records in the targets' groups and time span (plus the window) that USER may see."""
    low = min(m.received_at for m in targets) - window
    high = max(m.received_at for m in targets) + window
    units = {m.unit_id for m in targets if m.unit_id is not None}
    categories = {m.category for m in targets if m.unit_id is None and m.category is not None}
    neither = any(m.unit_id is None and m.category is None for m in targets)
    alike = []
    if units:
        alike.append(IntakeRecord.unit_id.in_(units))
    if categories:
        alike.append(and_(IntakeRecord.unit_id.is_(None), IntakeRecord.category.in_(categories)))
    if neither:
        alike.append(and_(IntakeRecord.unit_id.is_(None), IntakeRecord.category.is_(None)))
    stmt = select(*_COLUMNS).where(or_(*alike), IntakeRecord.received_at.between(low, high))
    scope = policy.visible_unit_ids(user)
    if scope is not None:
        stmt = stmt.where(IntakeRecord.unit_id.in_(scope or {-1}))
    seen = {m.id for m in targets}
    return [m for m in _members(stmt, target=False) if m.id not in seen]


def _compare(targets, others, window, threshold, link) -> None:
    """Link every target to the similar records of its group within WINDOW: other targets after it
    in time, and the surrounding records on either side.

    The score is max(0.4·title + 0.6·body, body), so a pair reaches the threshold only when its
    title or its body does. Two passes find exactly those pairs, and only they get the full score:
    titles and bodies whose score on a folded alphabet reaches the threshold. Folding characters
    together can only lengthen the longest common subsequence, so the folded score is never below
    the true one: no pair is missed.
    """
    scoring = {"scorer": fuzz.ratio, "score_cutoff": threshold - 0.05}  # `similarity` rounds to 0.1
    targets.sort(key=lambda m: m.received_at)
    others.sort(key=lambda m: m.received_at)
    target_times = [m.received_at for m in targets]
    other_times = [m.received_at for m in others]
    columns = {id(pool): ([m.folded_title for m in pool], [m.folded for m in pool]) for pool in (targets, others)}
    for index, member in enumerate(targets):
        when = member.received_at
        pools = (
            (targets, index + 1, bisect_right(target_times, when + window)),
            (others, bisect_left(other_times, when - window), bisect_right(other_times, when + window)),
        )
        for pool, low, high in pools:
            if low >= high:
                continue
            titles, folded = columns[id(pool)]
            near = {low + k for _c, _s, k in process.extract_iter(member.folded_title, titles[low:high], **scoring)}
            near |= {low + k for _c, _s, k in process.extract_iter(member.folded, folded[low:high], **scoring)}
            for position in near:
                other = pool[position]
                title_score = fuzz.ratio(member.title, other.title)
                body_score = fuzz.ratio(member.body, other.body)
                score = round(max(title_score * TITLE_WEIGHT + body_score * BODY_WEIGHT, body_score), 1)
                if score >= threshold:
                    link(member, other, score)


def _fold(members: list[Member], keep=200, buckets=55) -> None:
    """Give each member `folded`: its body with the KEEP commonest characters kept apart and every
    other character folded into one of BUCKETS codes, all below 256 (rapidfuzz compares one-byte
    strings several times faster than Chinese text)."""
    common = [c for c, _n in Counter("".join(m.body for m in members[:3000])).most_common(keep)]
    table = {ord(c): keep + ord(c) % buckets for c in set().union(*(m.body for m in members))}
    table.update({ord(c): code for code, c in enumerate(common)})
    for member in members:
        member.folded = member.body.translate(table)
        member.folded_title = member.title.translate(table)


def _describe(clusters: list[Cluster]) -> None:
    """Unit names and the open problems that members already belong to, in two queries."""
    unit_ids = {c.members[0].unit_id for c in clusters if c.members[0].unit_id is not None}
    names = dict(db.session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all()) if unit_ids else {}
    problem_ids = {m.problem_id for c in clusters for m in c.members if m.problem_id}
    problems = {}
    if problem_ids:
        rows = db.session.execute(select(Problem.id, Problem.number, Problem.status).where(Problem.id.in_(problem_ids)))
        problems = {pid: (number, status) for pid, number, status in rows}
    for cluster in clusters:
        first = cluster.members[0]
        cluster.unit_name = names.get(first.unit_id)
        cluster.category = first.category if first.unit_id is None else None
        numbers = []
        for member in cluster.members:
            number, status = problems.get(member.problem_id, (None, None))
            member.problem_number = number
            if number and status in OPEN_STATUSES and number not in numbers:
                numbers.append(number)
        cluster.problems = numbers


def summary(clusters: list[Cluster]) -> str:
    """ "N 组类案，涉及 M 件反映件" for a heading."""
    return _("%(c)d 组类案，涉及 %(r)d 件反映件", c=len(clusters), r=sum(c.size for c in clusters))
