"""Figures for supervisors and funders: reports, the audit review, exports."""
