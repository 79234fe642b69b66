"""The contact record a counselor keeps: notes, risk, screening, the overdose protocol."""
