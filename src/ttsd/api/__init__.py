"""The HTTP API (FastAPI). Talks only to :class:`ttsd.pipeline.engine.TTSEngine`; see ``create_app``."""

from ttsd.api.app import create_app

__all__ = ["create_app"]
