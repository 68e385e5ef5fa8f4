"""clipwire's HTTP edge: routes, callback-token verification, request limits. Nothing else."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
