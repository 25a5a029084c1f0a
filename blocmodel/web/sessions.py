"""Users' sessions at the negotiation table: each browser its own design and pinned designs.

A session is a cookie token and a small state (the current design, up to four pinned
designs, the last view that solved). The store is bounded: at most `max_sessions` at once,
and a session idle for `idle_seconds` ends (its pins go with it; its design lives on in
its link). When the store is full, the session idle longest is ended if it has been idle
for a minute; otherwise a newcomer is told to come back later.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .design import Design

MAX_PINNED = 4


@dataclass
class Pin:
    id: str
    name: str
    design: Design
    summary: dict[str, Any]
    query: str


@dataclass
class UserState:
    token: str
    created: float
    last_seen: float
    design: Design | None = None
    pinned: list[Pin] = field(default_factory=list)
    last_view: Any = None
    seq: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class SessionStore:
    def __init__(self, max_sessions: int = 50, idle_seconds: float = 1800.0, clock=time.monotonic):
        self.max_sessions = max_sessions
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._sessions: dict[str, UserState] = {}
        self._lock = threading.Lock()
        self.ended = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def get(self, token: str | None) -> UserState | None:
        """The live session of `token` (touched), or None."""
        if not token:
            return None
        now = self.clock()
        with self._lock:
            state = self._sessions.get(token)
            if state is None:
                return None
            if now - state.last_seen > self.idle_seconds:
                del self._sessions[token]
                self.ended += 1
                return None
            state.last_seen = now
            return state

    def create(self) -> UserState | None:
        """A new session, or None when the store is full of sessions active in the last minute."""
        self.purge()
        now = self.clock()
        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                oldest = min(self._sessions.values(), key=lambda s: s.last_seen)
                if now - oldest.last_seen < 60.0:
                    return None
                del self._sessions[oldest.token]
                self.ended += 1
            state = UserState(token=secrets.token_urlsafe(24), created=now, last_seen=now)
            self._sessions[state.token] = state
            return state

    def purge(self) -> int:
        """End every session idle longer than `idle_seconds`; how many ended."""
        now = self.clock()
        with self._lock:
            stale = [t for t, s in self._sessions.items() if now - s.last_seen > self.idle_seconds]
            for t in stale:
                del self._sessions[t]
            self.ended += len(stale)
            return len(stale)
