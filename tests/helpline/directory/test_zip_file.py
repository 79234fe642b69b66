"""The shipped ZIP file: the same points as the `zipcodes` package, one read a block at a
time, so that a command looking up one ZIP code does not build the whole table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from helpline.directory import geo, zip_file


def test_the_shipped_file_holds_every_point_of_the_installed_package() -> None:
    shipped = zip_file.open_zip_file()
    assert shipped is not None, ("helpline/data/zip_points.bin is missing or from another "
                                 "zipcodes: run python -m helpline.directory.zip_file")
    rows = list(zip_file.package_rows())
    assert len(rows) > 40_000
    assert all(shipped.row(row[0]) == row for row in rows)
    assert shipped.row("00000") is None and shipped.row("99999") is None


def test_one_zip_code_is_found_without_building_the_table() -> None:
    probe = ("import sys; from helpline.directory import geo; "
             "p = geo.zip_point('85701'); "
             "print(p.city, p.state, p.latitude, p.longitude, p.timezone, "
             "geo._ZIPS is None, 'zipcodes._zipcodes' in sys.modules and "
             "sys.modules['zipcodes']._zips_cache is not None)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    assert out == ["Tucson", "AZ", "32.2139", "-110.9694", "America/Phoenix", "True", "False"]


def test_a_file_from_another_zipcodes_version_is_not_used(tmp_path: Path) -> None:
    path = tmp_path / "zips.bin"
    zip_file.write_zip_file(path, [("10001", 1.0, 2.0, "NY", "America/New_York", "Here")],
                            "0.0-other")
    assert zip_file.open_zip_file(path) is None
    zip_file.write_zip_file(path, [("10001", 1.0, 2.0, "NY", "America/New_York", "Here")],
                            zip_file.package_version())
    zip_file._OPENED.pop(path, None)
    opened = zip_file.open_zip_file(path)
    assert opened is not None and opened.row("10001") == (
        "10001", 1.0, 2.0, "NY", "America/New_York", "Here")
    assert zip_file.open_zip_file(tmp_path / "missing.bin") is None


def test_the_file_and_the_table_agree() -> None:
    by_file = geo.zip_point("10001-1234")
    assert by_file is not None
    assert geo.all_zip_points()  # the table is now built: lookups use it
    assert geo.zip_point("10001") == by_file
