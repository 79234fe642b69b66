"""`helpline directory search` as a whole process, as a script runs it: start-up, settings,
one ZIP code looked up, the search, the answer printed. Target: under 300 ms.

Beside it, the floor no change to the command can go under while it runs the directory's one
query through SQLAlchemy Core: Python starting and importing SQLAlchemy (`python -c "import
sqlalchemy"`); what the ORM would add (`import sqlalchemy.orm`, which the command no longer
does); and the ZIP lookup alone, from the shipped file and from the whole `zipcodes` table it
replaced.

`python -m bench directory_cli` (a demo instance is made in a temporary folder first).
HELPLINE_BENCH_CLI_RUNS sets how many runs of each (default 15).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 15
TARGET_MS = 300.0
SEARCH = ("directory", "search", "--zip", "85701", "--within", "25")


def _wall_ms(command: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def _figures(label: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    print(f"  {label:<44} median {statistics.median(samples):7.0f} ms   "
          f"p90 {p90:7.0f} ms   best {ordered[0]:7.0f} ms")


def main(runs: int | None = None) -> None:
    runs = runs or int(os.environ.get("HELPLINE_BENCH_CLI_RUNS", RUNS))
    helpline = str(Path(sys.executable).parent / "helpline")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"(load average {load:.1f} at the start: other work on the machine slows every "
          "figure)")
    with tempfile.TemporaryDirectory() as folder:
        # Bytecode written and reused, as an installed copy has it (a checkout run with
        # PYTHONDONTWRITEBYTECODE compiles every module on every run).
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("HELPLINE_", "TWILIO_"))
               and k not in ("DATABASE_URL", "PYTHONDONTWRITEBYTECODE")}
        env.update(HELPLINE_INSTANCE_DIR=str(Path(folder) / "instance"),
                   DATABASE_URL=f"sqlite:///{Path(folder) / 'helpline.db'}",
                   PYTHONPYCACHEPREFIX=str(Path(folder) / "bytecode"))
        subprocess.run([helpline, "init", "--demo"], env=env, cwd=folder, check=True,
                       stdout=subprocess.DEVNULL)
        _wall_ms([helpline, *SEARCH], env, folder)  # the bytecode written once
        _wall_ms([sys.executable, "-c", "from helpline.directory import geo"], env, folder)
        search, floor, orm, by_file, by_table = [], [], [], [], []
        for _ in range(runs):  # interleaved, so that a busy moment weighs on each alike
            search.append(_wall_ms([helpline, *SEARCH], env, folder))
            floor.append(_wall_ms([sys.executable, "-c", "import sqlalchemy"], env, folder))
            orm.append(_wall_ms([sys.executable, "-c", "import sqlalchemy.orm"], env, folder))
            by_file.append(_wall_ms([sys.executable, "-c", "from helpline.directory import "
                                     "geo; geo.zip_point('85701')"], env, folder))
            by_table.append(_wall_ms([sys.executable, "-c", "from helpline.directory import "
                                      "geo; geo.all_zip_points()"], env, folder))
    print(f"`helpline {' '.join(SEARCH)}` over the demo directory, {runs} runs each:")
    _figures("the whole command", search)
    _figures("floor: python -c 'import sqlalchemy'", floor)
    _figures("with the ORM: python -c 'import sqlalchemy.orm'", orm)
    _figures("one ZIP code from the shipped file (process)", by_file)
    _figures("the whole zipcodes table (process)", by_table)
    verdict = "meets" if statistics.median(search) < TARGET_MS else "misses"
    print(f"  median {verdict} the target of {TARGET_MS:.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else None)
