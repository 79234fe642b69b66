"""The treatment directory's pages, under /directory: every staff member searches and confirms
capacity; supervisors and admins edit entries, mark them verified, see those not verified for
six months and download the HSDS export.

Views registered on the dashboard blueprint; each names its action (search or edit
the directory) with :func:`dashboard.access.permission_required`, on top of the sign-in gate.
"""

from dashboard.directory import center_views, entry_views

__all__ = ["center_views", "entry_views"]
