"""The helpline: an open-source contact center for substance-use and crisis helplines.

The core. It imports neither ``ivr`` nor ``dashboard`` (import-linter checks it); the app
factory is :func:`helpline.app.create_app`.
"""

__version__ = "0.1.0"
