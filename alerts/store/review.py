"""ReviewStore: the review queue in SQL (texts worth a human label, and their labels).

* :meth:`ReviewStore.add` is idempotent: an item is keyed by its document id and by the hash
  of its normalised text, and ``INSERT ... ON CONFLICT DO NOTHING`` skips a candidate whose
  document or exact text is stored already (a replayed batch changes nothing).
* The queue is bounded: after each add, while more than ``max_items`` items are unlabelled,
  the lowest-priority unlabelled ones are deleted, those not yet exported first (an exported
  item may be in a labeller's hands). Labelled items are kept.
* Labels live in ``review_labels``, one per item and entity (entity "" = the document's
  label), with who recorded them and when; an item with any label has ``labelled_at`` set.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from alerts.store.migrate import upgrade
from alerts.store.repository import make_engine
from alerts.store.tables import ReviewItem, ReviewLabel
from streams.contracts import ReviewCandidate

DOCUMENT = ""  # the ``entity`` of a document label


@dataclass(frozen=True)
class ReviewRow:
    """One stored item, as the CLI reads it."""

    id: int
    doc_id: str
    kind: str
    source: str
    text: str
    model_version: str
    predicted: str
    confidence: float
    reasons: tuple[str, ...]
    priority: float
    targets: tuple[dict[str, Any], ...]
    exported_at: datetime | None
    labelled_at: datetime | None

    @classmethod
    def of(cls, item: ReviewItem) -> ReviewRow:
        return cls(item.id, item.doc_id, item.kind, item.source, item.text, item.model_version,
                   item.predicted, item.confidence, tuple(r for r in item.reasons.split(";") if r),
                   item.priority, tuple(json.loads(item.entities)), item.exported_at,
                   item.labelled_at)


@dataclass(frozen=True)
class AddResult:
    added: int
    duplicates: int  # same document or same exact text stored already
    evicted: int


@dataclass(frozen=True)
class Label:
    """A label to record: ``entity`` "" for the document."""

    review_id: int
    entity: str
    label: str


@dataclass
class LabelResult:
    recorded: int = 0  # new labels
    changed: int = 0  # a different label replaced an earlier one
    unchanged: int = 0  # the same label again (nothing written)
    missing: list[int] = field(default_factory=list)  # review ids not in the queue


@dataclass(frozen=True)
class StoredLabel:
    item: ReviewRow
    entity: str
    label: str
    labelled_by: str
    labelled_at: datetime


def _insert(dialect: str) -> Any:
    """``INSERT`` with ``ON CONFLICT DO NOTHING`` support (PostgreSQL, SQLite)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _values(c: ReviewCandidate, now: datetime) -> dict[str, Any]:
    return {"doc_id": c.doc_id, "text_hash": c.text_hash, "kind": c.kind, "source": c.source,
            "text": c.text, "model_version": c.model_version, "predicted": c.label,
            "confidence": c.confidence, "probabilities": json.dumps(c.probabilities,
                                                                    sort_keys=True),
            "reasons": ";".join(c.reasons), "priority": c.priority,
            "entities": json.dumps([t.model_dump() for t in c.targets]),
            "scored_at": c.scored_at, "created_at": now}


class ReviewStore:
    def __init__(self, url: str, max_items: int = 5000, *, migrate: bool = False) -> None:
        if migrate:
            upgrade(url)
        self.max_items = max_items
        self.engine = make_engine(url)
        self.session: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def add(self, candidates: Sequence[ReviewCandidate], now: datetime) -> AddResult:
        """Store the new candidates and evict beyond ``max_items``, in one transaction."""
        insert = _insert(self.engine.dialect.name)
        added = 0
        with self.session.begin() as s:
            for c in candidates:
                stmt = (insert(ReviewItem.__table__).values(**_values(c, now))
                        .on_conflict_do_nothing().returning(ReviewItem.__table__.c.id))
                added += s.execute(stmt).first() is not None  # no row: stored already
            evicted = self._evict(s) if added else 0
        return AddResult(added, len(candidates) - added, evicted)

    def _evict(self, s: Session) -> int:
        unlabelled = ReviewItem.labelled_at.is_(None)
        count = s.scalar(sa.select(sa.func.count()).select_from(ReviewItem).where(unlabelled))
        excess = int(count or 0) - self.max_items
        if excess <= 0:
            return 0
        ids = list(s.scalars(sa.select(ReviewItem.id).where(unlabelled).order_by(
            ReviewItem.exported_at.is_not(None), ReviewItem.priority, ReviewItem.id)
            .limit(excess)))
        s.execute(sa.delete(ReviewItem).where(ReviewItem.id.in_(ids)))
        return len(ids)

    def for_export(self, n: int, source: str | None = None,
                   kind: str | None = None) -> list[ReviewRow]:
        """The ``n`` highest-priority items neither labelled nor exported yet."""
        q = sa.select(ReviewItem).where(ReviewItem.labelled_at.is_(None),
                                        ReviewItem.exported_at.is_(None))
        if source is not None:
            q = q.where(ReviewItem.source == source)
        if kind is not None:
            q = q.where(ReviewItem.kind == kind)
        with self.session() as s:
            items = s.scalars(q.order_by(ReviewItem.priority.desc(), ReviewItem.id).limit(n))
            return [ReviewRow.of(i) for i in items]

    def mark_exported(self, ids: Iterable[int], now: datetime) -> int:
        wanted = sorted(set(ids))
        with self.session.begin() as s:
            result = s.execute(sa.update(ReviewItem).where(ReviewItem.id.in_(wanted))
                               .values(exported_at=now))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def record_labels(self, labels: Sequence[Label], by: str, now: datetime) -> LabelResult:
        """Record every label (the latest wins) with who and when, in one transaction."""
        result = LabelResult()
        wanted = sorted({lb.review_id for lb in labels})
        with self.session.begin() as s:
            present = set(s.scalars(sa.select(ReviewItem.id).where(ReviewItem.id.in_(wanted))))
            rows = s.scalars(sa.select(ReviewLabel).where(ReviewLabel.item_id.in_(wanted)))
            stored = {(r.item_id, r.entity): r for r in rows}
            touched: set[int] = set()
            for lb in labels:
                if lb.review_id not in present:
                    if lb.review_id not in result.missing:
                        result.missing.append(lb.review_id)
                    continue
                row = stored.get((lb.review_id, lb.entity))
                if row is not None and row.label == lb.label:
                    result.unchanged += 1
                    continue
                if row is None:
                    row = ReviewLabel(item_id=lb.review_id, entity=lb.entity, label=lb.label,
                                      labelled_by=by, labelled_at=now)
                    s.add(row)
                    stored[(lb.review_id, lb.entity)] = row
                    result.recorded += 1
                else:
                    row.label, row.labelled_by, row.labelled_at = lb.label, by, now
                    result.changed += 1
                touched.add(lb.review_id)
            if touched:
                s.execute(sa.update(ReviewItem).where(ReviewItem.id.in_(sorted(touched)))
                          .values(labelled_at=now))
        return result

    def labels(self) -> list[StoredLabel]:
        """Every recorded label with its item, oldest item first."""
        q = (sa.select(ReviewItem, ReviewLabel).join(ReviewLabel,
                                                     ReviewLabel.item_id == ReviewItem.id)
             .order_by(ReviewItem.id, ReviewLabel.entity))
        with self.session() as s:
            return [StoredLabel(ReviewRow.of(item), lb.entity, lb.label, lb.labelled_by,
                                lb.labelled_at) for item, lb in s.execute(q)]

    def stats(self) -> dict[str, Any]:
        """Items in the queue: total, waiting (neither exported nor labelled), exported and
        not labelled, labelled; labels recorded; waiting items per source."""
        with self.session() as s:
            items = s.execute(sa.select(ReviewItem.source, ReviewItem.exported_at.is_not(None),
                                        ReviewItem.labelled_at.is_not(None))).all()
            labels = s.scalar(sa.select(sa.func.count()).select_from(ReviewLabel))
        waiting = Counter(src for src, exported, labelled in items
                          if not exported and not labelled)
        return {"items": len(items), "waiting": sum(waiting.values()),
                "exported_unlabelled": sum(1 for _, e, lab in items if e and not lab),
                "labelled": sum(1 for *_, lab in items if lab), "labels": int(labels or 0),
                "waiting_by_source": dict(sorted(waiting.items()))}
