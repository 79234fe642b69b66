"""The wallboard page puts an overdose in progress first, highlighted."""

from __future__ import annotations

from helpline.records import overdose
from tests.fixtures.overdose import on_call


def test_the_wallboard_page_highlights_the_overdose(supervisor_client, session, worker):
    live = on_call(session, worker)
    overdose.start_protocol(session, live.contact, worker)
    session.commit()
    board = supervisor_client.get("/supervisor/wallboard/board").get_data(as_text=True)
    assert 'id="wb-overdoses"' in board and "Overdose in progress" in board
    assert "Robin Counselor" in board and "Overdose protocol started" in board
    assert board.index("wb-overdoses") < board.index("wb-tiles")
