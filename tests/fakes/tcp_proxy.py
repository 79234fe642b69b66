"""A TCP proxy in front of a database server, to make it fail for one test's connections only.

Modes:

- ``pass``: bytes flow both ways.
- ``hang``: every connection stays open and new ones are accepted, but nothing is forwarded
  (a storage stall or a partition: the client waits, no error comes). Going back to ``pass``
  forwards what was held, as when the partition heals.
- ``refuse``: every connection is closed and new ones are refused (the server is down).
  Going back to ``pass`` listens again on the same port.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal

Mode = Literal["pass", "hang", "refuse"]
_CHUNK = 65536


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._mode: Mode = "pass"
        self._gate = threading.Condition()
        self._sockets: set[socket.socket] = set()
        self._closed = False
        self._listener = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._start_accepting()

    @property
    def mode(self) -> Mode:
        return self._mode

    def set_mode(self, mode: Mode) -> None:
        with self._gate:
            previous, self._mode = self._mode, mode
            self._gate.notify_all()
        if mode == "refuse" and previous != "refuse":
            self._stop_listening()
            self._close_connections()
        elif mode != "refuse" and previous == "refuse":
            self._listener = self._listen(self.port)
            self._start_accepting()

    def close(self) -> None:
        with self._gate:
            self._closed = True
            self._gate.notify_all()
        self._stop_listening()
        self._close_connections()

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(128)
        return listener

    def _start_accepting(self) -> None:
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True,
                         name="tcp-proxy-accept").start()

    def _stop_listening(self) -> None:
        # shutdown wakes the thread blocked in accept(); close alone would not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()

    def _close_connections(self) -> None:
        with self._gate:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _close(sock)

    def _track(self, sock: socket.socket) -> bool:
        with self._gate:
            if self._closed or self._mode == "refuse":
                return False
            self._sockets.add(sock)
            return True

    def _open(self, sock: socket.socket) -> bool:
        """Wait while the proxy hangs; False once ``sock`` was closed by refuse or close."""
        with self._gate:
            while self._mode == "hang" and not self._closed and sock in self._sockets:
                self._gate.wait()
            return not self._closed and self._mode == "pass" and sock in self._sockets

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if not self._track(client):
                _close(client)
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True,
                             name="tcp-proxy-conn").start()

    def _connect(self, client: socket.socket) -> None:
        # A connection made during a hang is held, unanswered, like the rest.
        if not self._open(client):
            _close(client)
            return
        try:
            server = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            self._forget(client)
            return
        server.settimeout(None)
        if not self._track(server):
            _close(server)
            self._forget(client)
            return
        threading.Thread(target=self._pump, args=(server, client), daemon=True,
                         name="tcp-proxy-down").start()
        self._pump(client, server)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        while True:
            try:
                data = source.recv(_CHUNK)
            except OSError:
                data = b""
            # What was read during a hang is held here until the proxy passes again.
            if not data or not self._open(source) or not self._open(target):
                break
            try:
                target.sendall(data)
            except OSError:
                break
        self._forget(source)
        self._forget(target)

    def _forget(self, sock: socket.socket) -> None:
        with self._gate:
            self._sockets.discard(sock)
            self._gate.notify_all()
        _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
