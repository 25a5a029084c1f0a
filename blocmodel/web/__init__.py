"""The negotiation table: `blocmodel serve`, a browser app where a negotiator assembles a
bloc design and sees its consequences at once.

- `design.py`: the form's design, its link, its scenario dict and TOML;
- `model.py`: the shared model (dataset, baselines, a bounded pool of solver sessions) and
  `evaluate`, the one way from a design to what the page shows;
- `views.py`: what the page shows of one solved design;
- `sessions.py`: each browser's own state, bounded, idle sessions ended;
- `server.py`: the Starlette app, its routes and `serve`.
"""

from __future__ import annotations


def create_app(*args, **kwargs):
    from .server import create_app as make

    return make(*args, **kwargs)


def serve(*args, **kwargs):
    from .server import serve as run

    return run(*args, **kwargs)


__all__ = ["create_app", "serve"]
