"""Who may see what: every access rule of the dashboard lives here.

Deny by default: :func:`gate` runs before every request of the app and refuses any view that
is not on :data:`PUBLIC_ENDPOINTS` (or under /ivr/, whose webhooks check Twilio's signature, or
/api/, whose read-only API checks its own tokens) unless a staff member is fully signed in.
Forgetting a decorator does not open a page.

On top of the gate, a view names the action it performs (:func:`permission_required`; which
roles may take it is data in :mod:`helpline.staff.roles`), and opens records by id through
the loaders below, which answer 404 (audited) for a record this user may not see.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, NoReturn, TypeVar

from flask import abort, g, redirect, request, session, url_for
from werkzeug.wrappers import Response

from helpline import audit
from helpline.app import fhir_api
from helpline.app.runtime import commit_now, db_session, settings
from helpline.followups.lifecycle import can_work_followup
from helpline.models import Contact, FollowUp, StaffSession, User
from helpline.records.contacts import can_read_notes, can_view_contact
from helpline.staff import auth
from helpline.staff.roles import Action, can

__all__ = [
    "PUBLIC_ENDPOINTS",
    "can_read_notes",
    "can_view_caller_consents",
    "can_view_contact",
    "can_work_followup",
    "current_user",
    "gate",
    "load_followup",
    "load_visible_contact",
    "login_required",
    "permission_required",
    "refuse",
    "require_user",
]

F = TypeVar("F", bound=Callable[..., Any])

# The whole list of pages open without signing in.
PUBLIC_ENDPOINTS = frozenset({
    "static",
    "dashboard.static",
    "dashboard.sign_in",
    "health.healthz",
    "health.readyz",
    "health.readyz_ivr",
    # Its own rule: a bearer token or an allowed network, else 404 (helpline.app.metrics).
    "metrics.metrics",
    # Its own rule: the FHIR integration's bearer token, else 401 or 404
    # (helpline.app.fhir_api).
    *fhir_api.ENDPOINTS,
})
# Reached half-way through signing in (password given, second factor not yet).
SECOND_FACTOR_ENDPOINTS = frozenset({
    "dashboard.second_factor",
    "dashboard.enrol",
    "dashboard.sign_out",
})
# Requests a page makes on its own (live updates, the idle timer): they are not activity.
PASSIVE_ENDPOINTS = frozenset({"dashboard.queue_events", "dashboard.session_status",
                               "phone.poll", "dashboard.softphone_token",
                               "dashboard.supervisor_wallboard_events",
                               "dashboard.supervisor_wallboard_board",
                               "dashboard.offer_events", "dashboard.current_offer"})
# All that a user whose password an admin reset may reach until they choose a new one.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"dashboard.change_password", "dashboard.sign_out",
                                       "dashboard.session_status", "dashboard.keepalive"})
SESSION_KEY = "staff_token"
# Perimeters with their own rule: Twilio's signature (ivr), API_ACCESS and tokens (api).
OWN_RULES = ("/ivr/", "/api/")


def client_address() -> str:
    """The peer address (a proxy in front must be configured with ProxyFix to pass it on)."""
    return (request.remote_addr or "unknown")[:64]


def refuse(action: str, record_type: str, record_id: int | str) -> NoReturn:
    """404 for a record this user may not see (or that does not exist), the attempt audited."""
    db = db_session()
    audit.record(db, action, actor=current_user(), record_type=record_type,
                 record_id=record_id, address=client_address())
    commit_now()  # a refusal is stored although the answer is a 404, which rolls back
    abort(404)


def _load_session() -> StaffSession | None:
    if "staff_session" not in g:
        staff = auth.active_session(db_session(), session.get(SESSION_KEY), settings())
        if staff is None and session.get(SESSION_KEY):
            commit_now()  # keep the idle sign-out and its audit event, whatever the answer
            session.pop(SESSION_KEY, None)
            g.signed_out_idle = True
        g.staff_session = staff
    return g.staff_session


def current_user() -> User | None:
    """The fully signed-in staff member of this request, or None."""
    staff = _load_session()
    if staff is None or staff.stage != "full":
        return None
    if "user" not in g:
        user = db_session().get(User, staff.user_id)
        g.user = (user if user is not None and user.active
                  and auth.session_is_current(staff, user) else None)
    return g.user


def pending_user() -> User | None:
    """The staff member who gave a password but not yet the second factor."""
    staff = _load_session()
    if staff is None or staff.stage != "password":
        return None
    user = db_session().get(User, staff.user_id)
    return user if user is not None and auth.session_is_current(staff, user) else None


def _refuse_anonymous() -> Response:
    if request.headers.get("HX-Request") or request.accept_mimetypes.best == "text/event-stream":
        resp = Response("signed out", status=401)
        resp.headers["HX-Redirect"] = url_for("dashboard.sign_in")
        return resp
    if g.get("signed_out_idle"):
        return redirect(url_for("dashboard.sign_in", idle=1))
    return redirect(url_for("dashboard.sign_in"))


def gate() -> Response | None:
    """Before every request: let public endpoints and /ivr/ through, require a user elsewhere."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS or request.path.startswith(OWN_RULES):
        return None
    if endpoint in SECOND_FACTOR_ENDPOINTS and pending_user() is not None:
        return None
    user = current_user()
    if user is None:
        return _refuse_anonymous()
    if user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        return redirect(url_for("dashboard.change_password"))
    if endpoint not in PASSIVE_ENDPOINTS and auth.touch(g.staff_session):
        # The gate's own write: activity counts even when the view then refuses or fails,
        # and this request does not hold the writer while the view runs.
        commit_now()
    return None


def login_required(view: F) -> F:
    """Refuse a view to anyone not fully signed in (the gate already does; this says so)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return _refuse_anonymous()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def require_user() -> User:
    """The signed-in staff member of this request; a request without one ends here (401)."""
    user = current_user()
    if user is None:
        abort(401)  # the gate redirects to sign-in first; this guards views the gate let by
    return user


def permission_required(action: Action) -> Callable[[F], F]:
    """Refuse a view (403) to a signed-in user whose role may not take ``action``."""
    action = Action(action)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return _refuse_anonymous()
            if not can(user, action):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = action  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def can_view_caller_consents(user: User, *, contact: Contact | None = None,
                             followup: FollowUp | None = None) -> bool:
    """A caller's consents and disclosures: the counselors on the caller's contact (who may
    open the record, or work the caller's follow-up) and supervisors. Admins never."""
    if not can(user, Action.VIEW_CALLER_CONSENTS):
        return False
    if contact is not None and can_view_contact(user, contact):
        return True
    return followup is not None and can_work_followup(user, followup)


def can_edit_directory(user: User | None) -> bool:
    """Supervisors and admins edit directory entries; counselors search and confirm capacity."""
    return can(user, Action.EDIT_DIRECTORY)


# --- loaders: the record by id, or an audited 404 ----------------------------------------------


def load_visible_contact(contact_id: int) -> Contact:
    """The record, or 404 (audited) when it does not exist or is not for this user."""
    user = require_user()
    contact = db_session().get(Contact, contact_id)
    if contact is None or not can_view_contact(user, contact):
        refuse("contact.refused", "contact", contact_id)
    return contact


def load_followup(followup_id: int) -> FollowUp:
    """The follow-up, or 404 (audited) when it does not exist or is not for this user."""
    user = require_user()
    followup = db_session().get(FollowUp, followup_id)
    if followup is None or not can_work_followup(user, followup):
        refuse("followup.refused", "followup", followup_id)
    return followup
