"""Consent (42 CFR §2.31): the one door for disclosures, its words, opt-outs, the disclosure log."""
