"""How every browser check here starts Chromium: Debian's binary, its flags, the hosts it may reach.

Used by tests/test_browser.py and tests/test_site.py (the suite), tools/site/screenshot.py (the
README's picture) and benchmarks/bench_voila.py, so they all test what one setting describes.
"""

from __future__ import annotations

import os
import re

#: Debian's chromium (apt-get; .ci/install-chromium), never a browser that playwright downloads.
CHROMIUM = os.environ.get("LSTMVIZ_CHROMIUM", "/usr/bin/chromium")
#: Chromium's own headless mode, no sandbox (containers run as root), and nothing that phones home.
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
#: Every URL but the local server's (and data:/blob:): routed to a refusal, never fetched.
OTHER_HOSTS = re.compile(r"^(?!https?://127\.0\.0\.1[:/]|data:|blob:)")
