"""Import a directory file (SAMHSA locator JSON or Open Referral HSDS 3.0): match each entry on
(source, source id), add what is new, update what changed, leave the rest alone.

One file is one transaction (the caller's): bad rows are reported and skipped, a file that is
not what it claims to be is refused whole. Imports set only what the source knows: capacity,
verification and (for SAMHSA, which has neither) descriptions and the active flag stay as
staff left them. Entries missing from a later file are not removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from helpline import audit
from helpline.directory import hsds, samhsa, schedules, vocabulary
from helpline.directory.records import (
    CenterRecord,
    ImportRefused,
    ParsedFile,
    Rejection,
    bulk_insert_centers,
)
from helpline.models import CenterSchedule, CenterService, TreatmentCenter, User

FORMATS = ("samhsa", "hsds")
_LOCAL_ID = re.compile(r"local-(\d+)")
_CHUNK = 500


@dataclass
class ImportReport:
    format: str
    file: str
    dry_run: bool
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    # Records imported with a value changed on the way in, and why.
    flagged: list[Rejection] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    @property
    def nothing_imported(self) -> bool:
        """No record of the file was taken (all rejected, or none): a failed import."""
        return self.added + self.updated + self.unchanged == 0

    def lines(self) -> list[str]:
        """The report as printed by `helpline directory import`."""
        if self.dry_run:
            counts = (f"would add {self.added}, would update {self.updated}, "
                      f"unchanged {self.unchanged}, rejected {self.rejected}")
        else:
            counts = (f"added {self.added}, updated {self.updated}, "
                      f"unchanged {self.unchanged}, rejected {self.rejected}")
        out = [f"{self.file}: {self.format}", counts]
        out += [f"  rejected {r.where}: {r.reason}" for r in self.rejections]
        out += [f"  flagged {r.where}: {r.reason}" for r in self.flagged]
        if self.ignored:
            out.append("Not imported (the directory has no place for them):")
            out += [f"  ignored {what}" for what in self.ignored]
        if self.dry_run:
            out.append("Dry run: nothing was written.")
        return out


def detect_format(path: Path) -> str:
    """"samhsa" for a JSON file, "hsds" for a folder, a .zip or a datapackage.json."""
    if path.is_dir() or path.name.lower().endswith(".zip") \
            or path.name.lower() == "datapackage.json":
        return "hsds"
    if path.name.lower().endswith(".json"):
        return "samhsa"
    raise ImportRefused("unknown kind of file: give SAMHSA locator JSON (.json) or HSDS 3.0 "
                        "(a folder, a .zip or a datapackage.json)")


def parse_file(path: Path, fmt: str | None = None) -> ParsedFile:
    """Read a file of either format (detected from its name unless ``fmt`` is given)."""
    if not path.exists():
        raise ImportRefused("no such file or folder")
    fmt = fmt or detect_format(path)
    if fmt == "samhsa":
        if not path.is_file():
            raise ImportRefused("no such file")
        return samhsa.parse(path.read_bytes())
    if fmt == "hsds":
        return hsds.parse(path)
    raise ValueError(f"unknown format {fmt!r}")


def identity_key(center: TreatmentCenter) -> str:
    """The id an entry is known by outside the database (exports write it)."""
    return center.source_id or f"local-{center.id}"


def _existing(session: Session, records: list[CenterRecord]) -> dict[tuple[str, str],
                                                                       TreatmentCenter]:
    wanted: dict[str, list[str]] = {}
    for r in records:
        wanted.setdefault(r.source, []).append(r.source_id)
    found: dict[tuple[str, str], TreatmentCenter] = {}
    for source, ids in wanted.items():
        for start in range(0, len(ids), _CHUNK):
            for center in session.scalars(
                select(TreatmentCenter).options(selectinload(TreatmentCenter.services),
                                                selectinload(TreatmentCenter.schedules))
                .where(TreatmentCenter.source == source,
                       TreatmentCenter.source_id.in_(ids[start:start + _CHUNK]))
            ):
                found[(source, center.source_id or "")] = center
        # An entry exported before it had a source id comes back as "local-<id>".
        for source_id in ids:
            match = _LOCAL_ID.fullmatch(source_id)
            if match and (source, source_id) not in found:
                local = session.get(TreatmentCenter, int(match.group(1)))
                if local is not None and local.source == source and local.source_id is None:
                    found[(source, source_id)] = local
    return found


def _differs(center: TreatmentCenter, record: CenterRecord) -> bool:
    if any(getattr(center, name) != value for name, value in record.fields.items()):
        return True
    if {(s.facet, s.code) for s in center.services} != record.offerings:
        return True
    if record.schedules is not None and \
            [schedules.stored_values(s) for s in center.schedules] != record.schedules:
        return True
    return (center.source_extra or {}) != record.extra


def _update(center: TreatmentCenter, record: CenterRecord) -> None:
    for name, value in record.fields.items():
        setattr(center, name, value)
    keep = [s for s in center.services if (s.facet, s.code) in record.offerings]
    have = {(s.facet, s.code) for s in keep}
    center.services = keep + [
        CenterService(facet=facet, code=code, label=vocabulary.label_for(facet, code),
                      code_list=vocabulary.CODE_LIST)
        for facet, code in sorted(record.offerings - have)]
    center.source_extra = dict(record.extra)
    if record.schedules is not None and \
            [schedules.stored_values(s) for s in center.schedules] != record.schedules:
        center.schedules = [CenterSchedule(position=position, **values)
                            for position, values in enumerate(record.schedules)]


def apply_records(session: Session, parsed: ParsedFile, report: ImportReport) -> None:
    """Add, update or leave each record (writes nothing on a dry run); counts into ``report``."""
    records = [r for _, r in parsed.records]
    existing = _existing(session, records)
    new: list[CenterRecord] = []
    for record in records:
        center = existing.get((record.source, record.source_id))
        if center is None:
            new.append(record)
        elif _differs(center, record):
            report.updated += 1
            if not report.dry_run:
                _update(center, record)
        else:
            report.unchanged += 1
    report.added = len(new)
    if not report.dry_run:
        session.flush()
        bulk_insert_centers(session, new)


def import_file(session: Session, path: Path, *, dry_run: bool = False, fmt: str | None = None,
                actor: User | str = "cli") -> ImportReport:
    """Import one file in the caller's transaction and audit it; ``dry_run`` writes nothing.

    Raises ImportRefused (nothing imported) for a file that is not what it claims to be.
    """
    parsed = parse_file(path, fmt)
    report = ImportReport(parsed.format, path.name, dry_run, rejections=parsed.rejections,
                          ignored=parsed.ignored,
                          flagged=[Rejection(where, flag) for where, record in parsed.records
                                   for flag in record.flags])
    apply_records(session, parsed, report)
    if not dry_run:
        audit.record(session, "directory.import", actor=actor, record_type="directory",
                     detail={"file": path.name[:120], "format": parsed.format,
                             "added": report.added, "updated": report.updated,
                             "unchanged": report.unchanged, "rejected": report.rejected,
                             "flagged": len(report.flagged)})
    return report
