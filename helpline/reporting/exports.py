"""Exports for funders and analysts: never a confidential field."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from helpline.models import Call, User
from helpline.reporting.spreadsheet_csv import SpreadsheetWriter

CALL_FIELDS = [
    "id", "call_sid", "direction", "started_at", "enqueued_at", "answered_at", "ended_at",
    "language", "need", "queue", "priority", "outcome", "wait_seconds", "talk_seconds",
    "counselor", "repeat_caller",
]


def call_records(session: Session, since: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
    """One plain record per call: times, routing and outcome; no number, hash or note."""
    query = (
        select(Call, User.username)
        .outerjoin(User, User.id == Call.counselor_id)
        .order_by(Call.started_at, Call.id)
    )
    if since is not None:
        query = query.where(Call.started_at >= since)
    earlier: set[str] = set()
    for call, counselor in session.execute(query).yield_per(2000):
        repeat = call.caller_hash is not None and call.caller_hash in earlier
        if call.caller_hash:
            earlier.add(call.caller_hash)
        yield {
            "id": call.id,
            "call_sid": call.call_sid,
            "direction": call.direction,
            "started_at": _iso(call.started_at),
            "enqueued_at": _iso(call.enqueued_at),
            "answered_at": _iso(call.answered_at),
            "ended_at": _iso(call.ended_at),
            "language": call.language,
            "need": call.need,
            "queue": call.queue_name,
            "priority": call.priority,
            "outcome": call.outcome,
            "wait_seconds": call.wait_seconds,
            "talk_seconds": call.talk_seconds,
            "counselor": counselor,
            "repeat_caller": repeat,
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def write_jsonl(records: Iterator[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for rec in records:
        out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        count += 1
    return count


def write_csv(records: Iterator[dict[str, Any]], out: TextIO, fields: list[str]) -> int:
    writer = SpreadsheetWriter(out)
    writer.writerow(fields)
    count = 0
    for rec in records:
        writer.writerow(rec.get(name) for name in fields)
        count += 1
    return count
