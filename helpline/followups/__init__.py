"""Follow-ups: the life cycle, quiet and safe hours, delivery, lists, attempt limits."""
