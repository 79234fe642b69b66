"""The one CSV writer of staff exports: no cell a spreadsheet would run as a formula.

Staff open exports (call history, reports, the audit log, call records) in Excel or
LibreOffice, which treat a cell beginning with ``=``, ``+``, ``-`` or ``@`` as a formula (and
tab or carriage return ahead of one as well): a counselor's name, a queue label or a center
name typed as ``=HYPERLINK(...)`` would run on the supervisor's machine. Such a text cell is
written with a single quote in front (OWASP, CSV injection), which the spreadsheet shows as
text and hides. Numbers the app computed (int, float, Decimal) are written as they are, a
negative one included: they are values, not text anyone typed, and prefixing them would turn
a figure into text.

The directory's HSDS export (:mod:`helpline.directory.hsds_export`) does not use this writer:
it is Open Referral data for other systems and for our own import, where a quote in front of
``+18005550100`` or ``-73.9`` would be a wrong value.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TextIO

#: What a spreadsheet may read as the start of a formula (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutral_cell(value: object) -> object:
    """``value`` as it is safe to write: text that could start a formula gets a ``'`` prefix;
    None and numbers are returned unchanged."""
    if value is None or isinstance(value, int | float | Decimal):
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class SpreadsheetWriter:
    """A ``csv.writer`` whose every cell goes through :func:`neutral_cell`."""

    def __init__(self, out: TextIO, **fmtparams: Any) -> None:
        self._writer = csv.writer(out, **fmtparams)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([neutral_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
