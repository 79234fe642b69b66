"""Write the browser phone's sounds (dashboard/static/softphone/*.wav).

Twilio's Voice SDK fetches its ring, hang-up and keypad tones from sdk.twilio.com unless told
otherwise; the dashboard loads nothing from another host, so it plays these instead: plain
tones made here (standard keypad DTMF pairs), small enough to keep in the repository.
Run from the repository root: ``.venv/bin/python scripts/softphone_sounds.py``.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

RATE = 8000
OUT = Path(__file__).resolve().parents[1] / "dashboard" / "static" / "softphone"
DTMF = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209),
        "5": (770, 1336), "6": (770, 1477), "7": (852, 1209), "8": (852, 1336),
        "9": (852, 1477), "star": (941, 1209), "0": (941, 1336), "hash": (941, 1477)}


def tone(freqs: tuple[int, ...], seconds: float, level: float = 0.25) -> list[float]:
    n = int(RATE * seconds)
    fade = int(RATE * 0.005)  # 5 ms in and out: no click at the edges
    samples = []
    for i in range(n):
        edge = min(1.0, i / fade, (n - 1 - i) / fade) if fade else 1.0
        value = sum(math.sin(2 * math.pi * f * i / RATE) for f in freqs) / len(freqs)
        samples.append(level * edge * value)
    return samples


def silence(seconds: float) -> list[float]:
    return [0.0] * int(RATE * seconds)


def write(name: str, samples: list[float]) -> None:
    with wave.open(str(OUT / name), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(b"".join(struct.pack("<h", int(s * 32767)) for s in samples))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    ring = (440, 480)
    write("incoming.wav", tone(ring, 0.4) + silence(0.2) + tone(ring, 0.4) + silence(2.0))
    write("outgoing.wav", tone(ring, 0.3))
    write("disconnect.wav", (tone((480, 620), 0.15) + silence(0.1)) * 3)
    for key, pair in DTMF.items():
        write(f"dtmf-{key}.wav", tone(pair, 0.15))


if __name__ == "__main__":
    main()
