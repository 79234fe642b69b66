"""The treatment directory's pages, under /directory: every staff member searches and confirms
capacity; supervisors and admins edit entries, mark them verified, see those not verified for
six months and download the HSDS export (issue 4; capacity from issue 8).

Views registered on the dashboard blueprint; the role rules are :func:`dashboard.access.
role_required` with :data:`STAFF` or :data:`EDITORS`, on top of the sign-in gate.
"""

from dashboard.directory import center_views, entry_views

__all__ = ["center_views", "entry_views"]
