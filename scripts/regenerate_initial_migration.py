"""Rebuild migration 0001 from the current models.

Only valid before the first release: once a deployment has run 0001, every schema change is a
new Alembic revision instead (`alembic revision --autogenerate` through helpline.migrate).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from helpline.db import Database
from helpline.migrate import MIGRATIONS, alembic_config


def main() -> None:
    target = MIGRATIONS / "versions" / "0001_initial_schema.py"
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'empty.db'}")
        target.unlink(missing_ok=True)
        # 0002 depends on 0001: park it while 0001 is generated against an empty database.
        later = sorted(p for p in (MIGRATIONS / "versions").glob("0*.py") if p != target)
        parked = [(p, p.read_text()) for p in later]
        for p, _ in parked:
            p.unlink()
        try:
            command.revision(alembic_config(db), message="initial schema", autogenerate=True,
                             rev_id="0001")
        finally:
            for p, text in parked:
                p.write_text(text)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
