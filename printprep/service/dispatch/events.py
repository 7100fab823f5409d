"""Status and job events fanned out to subscribers (the SSE route ``/api/events``)."""

from __future__ import annotations

import queue
import threading
from typing import Any


class EventHub:
    """Named events (``printer``, ``job``) fanned out to subscribers (the SSE route).

    Each subscriber gets its own bounded queue; a subscriber that does not read loses
    its oldest events rather than slowing the dispatcher.
    """

    def __init__(self, maxsize: int = 1000) -> None:
        self._subs: list[queue.Queue[tuple[str, dict[str, Any]]]] = []
        self._lock = threading.Lock()
        self._maxsize = maxsize

    def subscribe(self) -> queue.Queue[tuple[str, dict[str, Any]]]:
        q: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue(self._maxsize)
        with self._lock:
            self._subs.append(q)
        return q

    def unsubscribe(self, q: queue.Queue[tuple[str, dict[str, Any]]]) -> None:
        with self._lock:
            if q in self._subs:
                self._subs.remove(q)

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs)
        for q in subs:
            while True:
                try:
                    q.put_nowait((kind, data))
                    break
                except queue.Full:
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        pass
