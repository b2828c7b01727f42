"""Voices: the Voice protocol, the registry, and the concrete backends (reached only through the registry)."""
