"""The ZIP points as a file read one block at a time: one ZIP code without loading 42,000.

The `zipcodes` package builds its whole table (42,000 dicts) on the first question, which
took most of a second: more than the rest of `helpline directory search`. This file holds the
same rows, sorted by ZIP code, cut into blocks of :data:`BLOCK_ROWS` rows, each compressed
apart; a small header names the first ZIP code of each block. Finding one ZIP code reads the
header once and then one block.

The file (``helpline/data/zip_points.bin``) is made from the installed `zipcodes` package by
``python -m helpline.directory.zip_file`` and names that package's version; when the installed
version differs, :func:`open_zip_file` answers None and geo reads the package itself.

Layout: the line ``helpline-zip-points 1 <zipcodes version>\\n``, the number of blocks
(uint32), then per block its first ZIP code (5 bytes), offset and length (uint32 each), then
the blocks: zlib-compressed lines ``zip\\tlatitude\\tlongitude\\tstate\\ttimezone\\tcity``.
"""

from __future__ import annotations

import bisect
import functools
import struct
import sys
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

ZIP_FILE = Path(__file__).resolve().parent.parent / "data" / "zip_points.bin"
MAGIC = b"helpline-zip-points 1 "
BLOCK_ROWS = 256
_ENTRY = struct.Struct("<5sII")
_COUNT = struct.Struct("<I")

Row = tuple[str, float, float, str, str, str]  # zip, latitude, longitude, state, tz, city


def package_rows() -> Iterator[Row]:
    """The rows of the installed `zipcodes` package that have coordinates, in its order."""
    import zipcodes

    for z in zipcodes.list_all():
        try:
            lat, lon = float(z["lat"]), float(z["long"])
        except (TypeError, ValueError):
            continue
        yield (z["zip_code"], lat, lon, z.get("state") or "", z.get("timezone") or "",
               z.get("city") or "")


def package_version() -> str:
    import zipcodes

    return str(zipcodes.__version__)


def write_zip_file(path: Path, rows: Iterable[Row], version: str) -> int:
    """Write ``rows`` as a ZIP file at ``path``; returns how many rows it holds."""
    ordered = sorted(rows)
    header, blocks, offset = [], [], 0
    for start in range(0, len(ordered), BLOCK_ROWS):
        chunk = ordered[start:start + BLOCK_ROWS]
        text = "".join(f"{z}\t{lat!r}\t{lon!r}\t{state}\t{tz}\t{city}\n"
                       for z, lat, lon, state, tz, city in chunk)
        block = zlib.compress(text.encode("utf-8"), 9)
        header.append(_ENTRY.pack(chunk[0][0].encode("ascii"), offset, len(block)))
        blocks.append(block)
        offset += len(block)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    with temporary.open("wb") as out:
        out.write(MAGIC + version.encode("ascii") + b"\n")
        out.write(_COUNT.pack(len(header)))
        out.writelines(header)
        out.writelines(blocks)
    temporary.replace(path)
    return len(ordered)


class ZipPointsFile:
    """One ZIP file, its header read once; blocks read and decompressed when asked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with path.open("rb") as f:
            first = f.readline()
            if not first.startswith(MAGIC):
                raise ValueError(f"{path.name}: not a ZIP points file")
            self.version = first[len(MAGIC):].strip().decode("ascii")
            (count,) = _COUNT.unpack(f.read(_COUNT.size))
            entries = [_ENTRY.unpack(f.read(_ENTRY.size)) for _ in range(count)]
            self._data_start = f.tell()
        self._firsts = [first_zip.decode("ascii") for first_zip, _, _ in entries]
        self._spans = [(offset, length) for _, offset, length in entries]
        self._block = functools.lru_cache(maxsize=64)(self._read_block)

    def _read_block(self, index: int) -> dict[str, Row]:
        offset, length = self._spans[index]
        with self.path.open("rb") as f:
            f.seek(self._data_start + offset)
            text = zlib.decompress(f.read(length)).decode("utf-8")
        rows: dict[str, Row] = {}
        for line in text.splitlines():
            z, lat, lon, state, tz, city = line.split("\t")
            rows[z] = (z, float(lat), float(lon), state, tz, city)
        return rows

    def row(self, zip5: str) -> Row | None:
        """The row of the five-digit ``zip5``, or None when the file has none."""
        index = bisect.bisect_right(self._firsts, zip5) - 1
        return self._block(index).get(zip5) if index >= 0 else None


_OPENED: dict[Path, ZipPointsFile | None] = {}
_LOCK = threading.Lock()


def open_zip_file(path: Path = ZIP_FILE) -> ZipPointsFile | None:
    """The shipped ZIP file, or None when it is missing, unreadable or made from another
    version of `zipcodes` than the one installed (once per process)."""
    with _LOCK:
        if path not in _OPENED:
            try:
                opened: ZipPointsFile | None = ZipPointsFile(path)
            except (OSError, ValueError, struct.error):
                opened = None
            if opened is not None and opened.version != package_version():
                opened = None
            _OPENED[path] = opened
        return _OPENED[path]


def main() -> None:
    """Rebuild the shipped file from the installed `zipcodes` (after upgrading it)."""
    count = write_zip_file(ZIP_FILE, package_rows(), package_version())
    print(f"{ZIP_FILE}: {count} ZIP codes from zipcodes {package_version()}", file=sys.stderr)


if __name__ == "__main__":
    main()
