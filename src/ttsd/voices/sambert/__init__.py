"""The optional ModelScope Sambert-HifiGan backend (see docs/modelscope.md)."""
