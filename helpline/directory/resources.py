"""Resources entered by staff (books, audio, video, meditations, daily inspirations,
community resources): create and edit with validation, audited."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from helpline.directory import checks
from helpline.models import Resource, User

KINDS: dict[str, str] = {
    "book": "Book", "audio": "Audio", "video": "Video", "meditation": "Meditation",
    "daily_inspiration": "Daily inspiration", "community": "Community resource",
}


@dataclass
class ResourceInput:
    title: str = ""
    kind: str = "book"
    language: str = "en"
    description: str = ""
    link: str = ""
    how_to_get: str = ""
    active: bool = True

    @classmethod
    def of(cls, resource: Resource) -> ResourceInput:
        return cls(resource.title, resource.kind, resource.language, resource.description,
                   resource.link, resource.how_to_get, resource.active)


def _checked(data: ResourceInput) -> dict[str, object]:
    errors: dict[str, str] = {}
    values: dict[str, object] = {
        "title": checks.text(errors, "title", data.title, 255, required=True),
        "language": checks.language(errors, "language", data.language),
        "description": checks.text(errors, "description", data.description, 2000),
        "link": checks.url(errors, "link", data.link, limit=500),
        "how_to_get": checks.text(errors, "how_to_get", data.how_to_get, 2000,
                                  label="How to get it"),
        "active": bool(data.active),
        "kind": data.kind,
    }
    if data.kind not in KINDS:
        errors["kind"] = "Choose a kind from the list."
    if not values["link"] and not values["how_to_get"] and "link" not in errors:
        errors["link"] = "Give a link, or say how to get it."
    if errors:
        raise checks.EntryInvalid(errors)
    return values


def save_resource(session: Session, resource: Resource | None, data: ResourceInput, *,
                  by: User, address: str | None = None) -> Resource:
    """Create (``resource`` None) or edit a resource; raises checks.EntryInvalid."""
    values = _checked(data)
    creating = resource is None
    if resource is None:
        resource = Resource(source="manual")
        session.add(resource)
    changed = checks.assign(resource, values)
    checks.audit_saved(session, resource, "resource", "resource", creating=creating,
                       changed=changed, by=by, address=address)
    return resource
