"""The shape every report figure takes: a titled table whose first column is the label."""

from __future__ import annotations

import io
from dataclasses import dataclass

from helpline.reporting.spreadsheet_csv import SpreadsheetWriter


@dataclass
class Table:
    """One figure: a title, column names and rows (the first column is the label)."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[object]]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = SpreadsheetWriter(out)
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        return out.getvalue()
