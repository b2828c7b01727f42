"""One module per CLI command. Each exposes ``add_arguments(parser)`` and ``run(args) -> int`` and, if it takes
the service settings as flags, ``USES_SETTINGS = True``. Heavy imports (torch, the voice) happen inside ``run``."""
