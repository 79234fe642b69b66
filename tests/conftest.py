"""The suite's shared fixtures live in the plugin modules of ``tests.fixtures``, registered here
once: a folder's conftest.py keeps only what is local to that folder."""

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.twilio",
    "tests.fixtures.cli",
    "tests.fixtures.staff",
    "tests.fixtures.followups",
    "tests.fixtures.reporting",
]
