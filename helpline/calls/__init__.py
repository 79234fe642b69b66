"""Calls: one record per CallSid, the write journal and its spool, queues, the wallboard."""
