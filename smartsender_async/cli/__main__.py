"""``python -m smartsender_async.cli``: the same as the ``smartsender`` console script."""

import sys

from smartsender_async.cli._app import main

if __name__ == "__main__":
    sys.exit(main())
