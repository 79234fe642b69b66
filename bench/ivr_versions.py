"""What the versioned IVR settings cost a webhook, on SQLite and (when reachable) PostgreSQL.

- the live check a process makes every IVR_FLOW_CHECK_SECONDS (one indexed row), and the
  in-memory answer every other request gets;
- picking up a newly published version (read it, apply it over the files, check it);
- /ivr/voice through the real app (signature, flow, call record): checking on every request
  (IVR_FLOW_CHECK_SECONDS=0) against the default, and a preview call (a draft read per request).

`python -m bench ivr_versions [SAMPLES]` (default 300 samples per figure; a run takes well under
a minute).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench._databases import pg_reachable, postgres_url, sqlite_url

SAMPLES = 300
HISTORY = 50  # versions published before the measurements


def _figures(samples: list[float], unit: str = "ms") -> str:
    scale = 1000 if unit == "ms" else 1_000_000
    values = sorted(s * scale for s in samples)
    p99 = values[max(0, int(len(values) * 0.99) - 1)]
    return f"p50 {statistics.median(values):8.3f} {unit}  p99 {p99:8.3f} {unit}"


def _timed(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return samples


def _seed(db, live) -> int:  # type: ignore[no-untyped-def]
    """HISTORY published versions, and one draft to preview; return the draft's number."""
    from helpline.flows.versions import new_draft, publish, save_draft, values_of
    from tests.factories import make_user

    with db.session() as s:
        lead = make_user(s, "supervisor")
        for i in range(HISTORY):
            draft = new_draft(s, live.defaults, based_on=0, by=lead)
            values = values_of(live.defaults, draft)
            values["en.prompts.queue_calm"] = f"Calm words, edition {i}."
            save_draft(s, live.defaults, draft.id, values, by=lead)
            publish(s, live.defaults, draft.id, by=lead)
        return new_draft(s, live.defaults, based_on=draft.id, by=lead).id


def _voice_timings(app, tag: str, query: str, samples: int) -> list[float]:  # type: ignore[no-untyped-def]
    """/ivr/voice, signed as Twilio signs it, each time a new call."""
    from twilio.request_validator import RequestValidator

    settings = app.extensions["helpline"].settings
    client = app.test_client()
    validator = RequestValidator(settings.twilio_auth_token)
    path = "/ivr/voice" + query
    counter = iter(range(10**9))

    def voice() -> None:
        params = {"CallSid": f"CA{tag}{next(counter):031d}", "From": "+15555550123",
                  "CallStatus": "ringing"}
        signature = validator.compute_signature(settings.public_base_url + path, params)
        response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200

    voice()
    return _timed(voice, samples)


def run(database_url: str, label: str, samples: int, workdir: Path) -> None:
    from helpline import migrate
    from helpline.app import create_app
    from helpline.config import settings_for_tests
    from helpline.db import Database
    from helpline.flows.versions import check_values, get_version, live_pointer, values_of

    db = Database(database_url)
    migrate.upgrade(db)
    every = create_app(settings_for_tests(workdir, database_url=database_url,
                                          log_level="WARNING", ivr_flow_check_seconds=0))
    default = create_app(settings_for_tests(workdir, database_url=database_url,
                                            log_level="WARNING"))
    live = default.extensions["ivr_live"]
    app_db = default.extensions["helpline"].db
    preview = _seed(db, live)

    def pointer() -> None:
        with app_db.sessions() as s:
            live_pointer(s)

    def pick_up() -> None:
        with app_db.sessions() as s:
            number = live_pointer(s)[1]
            check_values(live.defaults, values_of(live.defaults, get_version(s, number)),
                         number)

    live.current(app_db)  # one check; until the next one every request is answered from memory
    timings = {
        "in memory, between checks": _timed(lambda: live.current(app_db, now=0.0), samples),
        "live check (one row)": _timed(pointer, samples),
        "pick up a new version": _timed(pick_up, samples),
        "/ivr/voice, live check on every request": _voice_timings(every, "1", "", samples),
        "/ivr/voice, live check every 2 s (default)": _voice_timings(default, "2", "", samples),
        "/ivr/voice, preview of a draft": _voice_timings(default, "3",
                                                         f"?flow_version={preview}", samples),
    }
    for what, values in timings.items():
        unit = "us" if what.startswith("in memory") else "ms"
        print(f"{label}: {what:<44} {_figures(values, unit)}")
    for app in (every, default):
        app.extensions["helpline"].db.dispose()
    db.dispose()


def main(samples: int = SAMPLES) -> None:
    print(f"{HISTORY} versions published; {samples} samples per figure")
    with sqlite_url() as url, tempfile.TemporaryDirectory() as tmp:
        run(url, "SQLite", samples, Path(tmp))
    if pg_reachable():
        with postgres_url() as url, tempfile.TemporaryDirectory() as tmp:
            run(url, "PostgreSQL", samples, Path(tmp))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES)
