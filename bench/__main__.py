"""Run every benchmark module in bench/ (each has a `main()` that prints its figures).

`python -m bench` runs them all; `python -m bench ivr directory` runs the named ones.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
import time
from pathlib import Path


def machine() -> str:
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{platform.node()}: {platform.machine()}, {os.cpu_count()} cores{mem}, "
            f"Python {platform.python_version()}")


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    # A name picks that benchmark; a prefix that names none picks those it starts.
    chosen = [n for n in names if not argv or n in argv
              or any(n.startswith(a) and a not in names for a in argv)]
    print(f"# helpline benchmarks on {machine()}")
    for name in chosen:
        module = importlib.import_module(f"bench.{name}")
        if not hasattr(module, "main"):
            continue
        print(f"\n## {name}")
        started = time.perf_counter()
        module.main()
        print(f"({name}: {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
