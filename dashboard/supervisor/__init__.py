"""The supervisor console: live wallboard, reports, audit review, staff and IVR settings, under
/supervisor.

Views registered on the dashboard blueprint; each is closed to anyone but supervisors (and
admins where said) by :func:`dashboard.access.permission_required`, on top of the sign-in gate.
"""

from dashboard.supervisor import (
    audit_views,
    floor_views,
    ivr_views,
    report_views,
    staff_views,
    wallboard_views,
)

__all__ = ["audit_views", "floor_views", "ivr_views", "report_views", "staff_views",
           "wallboard_views"]
