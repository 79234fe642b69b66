"""The treatment directory's pages, under /directory: every staff member searches and confirms
capacity; supervisors and admins edit entries, mark them verified, see those not verified for
six months, download the HSDS export and configure the Meeting Guide feeds.

Views registered on the dashboard blueprint; each names its action (search or edit
the directory) with :func:`dashboard.access.permission_required`, on top of the sign-in gate.
"""

from dashboard.directory import center_views, entry_views, feed_views

__all__ = ["center_views", "entry_views", "feed_views"]
