"""The ``smartsender`` command line (install with the ``cli`` extra).

``main()`` is the console script; ``cli`` is the click group behind it.  The exporter
(``smartsender_async.cli._export``) has no click in it and can be driven from Python.
"""

from smartsender_async.cli._app import cli, main

__all__ = ["cli", "main"]
