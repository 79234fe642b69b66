"""Referrals: texting them, closed-loop outcomes, warm handoff to intake."""
