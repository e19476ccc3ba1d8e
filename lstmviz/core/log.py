"""The package's one logger, ``logging.getLogger("lstmviz")``, for diagnostics (never for results).

Cache hits, downloads, retries and cleaned-up temporary files are logged at INFO; nothing is shown
unless the application configures logging, e.g. ``logging.basicConfig(level=logging.INFO)``.
"""

import logging

log = logging.getLogger("lstmviz")
log.addHandler(logging.NullHandler())  # a library never prints through Python's last-resort handler
