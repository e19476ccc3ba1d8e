"""Sphinx settings of the lessons' website. Run through `make site` (tools/site/build.py), which
lays out the source folder (the pages here, the prepared lessons, docs/*) and the static files
(plotly.js, KaTeX's stylesheet and fonts, the recorded explorers) and then calls Sphinx with
this folder as its configuration (`-c website`). ARCHITECTURE.md says why Sphinx + myst-nb."""

from __future__ import annotations

import os
from pathlib import Path

import sphinxcontrib.katex

# KaTeX's Node server gets 5 s to start and 5 s per formula by default; a busy 2-core CI machine
# can take longer to start Node, which is no reason to fail a build
sphinxcontrib.katex.STARTUP_TIMEOUT = 120.0
sphinxcontrib.katex.RENDER_TIMEOUT = 60.0

HERE = Path(__file__).resolve().parent
if "LSTMVIZ_SITE_STATIC" not in os.environ:
    raise SystemExit("website/conf.py is Sphinx's half of tools/site/build.py: run `make site`")
GENERATED = Path(os.environ["LSTMVIZ_SITE_STATIC"])  # build.py's static files of this build
KATEX_JS = os.environ["LSTMVIZ_SITE_KATEX"]  # the npm katex that typesets at build time

project = "lstmviz"
author = "the lstmviz authors"
copyright = "lstmviz authors, MIT licence"

extensions = [
    "myst_nb",  # the lessons (.ipynb, from their stored outputs) and Markdown pages
    "sphinx.ext.autodoc",  # the library reference, from the docstrings
    "sphinx.ext.autosummary",
    "sphinxcontrib.katex",  # math typeset at build time: no script, no CDN
]

# ---- the lessons: stored outputs only, never executed here
nb_execution_mode = "off"
nb_merge_streams = True
nb_ipywidgets_js = {}  # the live widgets are snapshots here; never load widget JS from a CDN
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

# ---- math: KaTeX on Node at build time; pages load only its stylesheet and fonts
html_math_renderer = "katex"
katex_prerender = True
katex_js_path = KATEX_JS
katex_css_path = "katex/katex.min.css"

# ---- the library reference
autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_class_signature = "separated"
templates_path = [str(HERE / "_templates")]
add_module_names = False

# ---- pages
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "_readme.md", "docs/README.md"]
html_theme = "furo"
html_title = "lstmviz: how an LSTM works"
html_static_path = [str(HERE / "_static"), str(GENERATED)]
html_favicon = str(HERE / "_static" / "favicon.svg")  # else browsers ask for /favicon.ico (404)
html_css_files = ["lstmviz-site.css"]
html_js_files = [("lstmviz-site.js", {"defer": "defer"})]
html_copy_source = False  # the notebooks are offered whole (notebooks/), not as page sources
html_show_sourcelink = False
html_extra_path = [str(GENERATED.parent / "extra")]
html_theme_options = {
    "navigation_with_keys": True,
    "top_of_page_buttons": [],
}
