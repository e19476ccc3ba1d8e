"""Build the lessons' website (what `make site` runs): a static folder any web server can serve.

    .venv/bin/python tools/site/build.py [--out build/site]

1. lays out Sphinx's source folder in build/site-src: the pages of website/, docs/ (every file),
   README.md (the landing page includes its lesson table and notation), and each lesson of
   lessons/ as ``prepare.prepare_notebook`` turns it (stored outputs, never executed);
2. records the explorers: the shipped model writes a passage, ``lstmviz.record_text`` records it
   and ``lstmviz.viz.export_html`` writes the page (website/explorer.md shows it, and lesson 05
   opens it in place of its live explorer);
3. copies what the pages load: plotly.js (the cartesian bundle, from website/node_modules), the
   KaTeX stylesheet and fonts, the lessons as notebooks to download;
4. runs Sphinx (website/conf.py) and prints the time and each page's size with what it loads.

Needs the [site] extra and `npm ci --prefix website` (make site does both). Output: --out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import links  # noqa: E402 (tools/links.py: the Colab address of each lesson)
import prepare  # noqa: E402 (this folder's module)

ROOT = Path(__file__).resolve().parents[2]
WEBSITE = ROOT / "website"
NODE = WEBSITE / "node_modules"
PLOTLY_JS = NODE / "plotly.js-cartesian-dist-min" / "plotly-cartesian.min.js"
KATEX = NODE / "katex" / "dist"

#: The recorded explorers: the passage a shipped model writes, and where it opens. Lesson 05's
#: live generation explorer writes this very passage (same prime, length, temperature, seed).
RECORDINGS = {
    "shakespeare": dict(
        model="shakespeare",
        prime="ROMEO\n",
        length=300,
        temperature=0.8,
        seed=0,
        lesson="05_inside_the_gates",
        widget="LiveGeneration",
    ),
}


def shown(text: str) -> str:
    return text.replace("\n", "⏎")


def need_tools() -> None:
    """Stop with one message naming what to install when the site's tools are missing."""
    missing = []
    for module in ("sphinx", "myst_nb", "furo", "sphinxcontrib.katex"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        sys.exit(
            f"error: {', '.join(missing)} not installed: pip install -e '.[site]' (make site does)"
        )
    if not (PLOTLY_JS.is_file() and (KATEX / "katex.min.js").is_file()):
        sys.exit("error: website/node_modules is missing: npm ci --prefix website (make site does)")
    if not shutil.which("node"):
        sys.exit("error: no `node` on PATH: KaTeX typesets the math with Node.js at build time")


def start_of(lesson: dict, widget: str) -> dict:
    """Layer, name and unit that a lesson's live explorer of kind ``widget`` shows (its repr)."""
    for cell in lesson["cells"]:
        for out in cell.get("outputs", []):
            text = "".join(out.get("data", {}).get("text/plain", ""))
            if text.startswith(f"<lstmviz {widget}:"):
                found = dict(re.findall(r"(\w+)='?(\w+)'?", text.partition(":")[2]))
                if {"layer", "name", "unit"} <= set(found):
                    return dict(
                        layer=int(found["layer"]), name=found["name"], unit=int(found["unit"])
                    )
    return dict(layer=-1, name="c", unit=None)  # the top layer's most variable memory cell


def record(name: str, spec: dict, start: dict, out: Path) -> dict:
    """Write the explorer page of one recording; its description for the pages that show it."""
    import lstmviz
    from lstmviz.viz import export_html
    from lstmviz.viz.export import read_values

    ckpt = lstmviz.load_pretrained(spec["model"])
    written = lstmviz.generate(
        ckpt.model,
        ckpt.vocab,
        spec["prime"],
        spec["length"],
        temperature=spec["temperature"],
        seed=spec["seed"],
    )
    text = spec["prime"] + written
    trace = lstmviz.record_text(ckpt.model, ckpt.vocab, text)
    description = (  # "... wrote a passage from <description>"
        f"the prime “{shown(spec['prime'])}” ({spec['length']} characters, temperature "
        f"{spec['temperature']}, seed {spec['seed']})"
    )
    title = (
        f"The shipped {spec['model'].capitalize()} model's gates over a passage it wrote "
        f"({len(text)} characters)"
    )
    page = export_html(trace, text, out / f"{name}.html", title=title, **start)
    unit = read_values(page)["start"]
    return dict(
        title=title,
        description=description,
        bytes=len(page.encode("utf-8")),
        page=f"{name}.html",
        chars=len(text),
        **unit,
    )


def lay_out(src: Path, static: Path, extra: Path) -> dict:
    """Sphinx's source folder, the static files and the recordings; returns what the pages say."""
    for folder in (src, static, extra):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    (static / "explorers").mkdir()
    lessons = {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((ROOT / "lessons").glob("[0-9]*.ipynb"))
    }
    recorded, notes = {}, {}
    for name, spec in RECORDINGS.items():
        lesson = lessons.get(spec["lesson"], {"cells": []})
        info = record(name, spec, start_of(lesson, spec["widget"]), static / "explorers")
        notes[name] = info
        recorded.setdefault(spec["lesson"], {})[spec["widget"]] = (
            info,
            f"../_static/explorers/{info['page']}",
            "../explorer.html",
        )

    facts = dict(next(iter(notes.values())))  # {{ key }} in a page: a fact of the recording,
    facts["guides"] = (  # or the toctree of docs/*.md, when there are any
        "```{toctree}\n:caption: Guides\n:maxdepth: 1\n:glob:\n\ndocs/*\n```\n"
        if list((ROOT / "docs").glob("*.md"))
        else ""
    )
    for page in WEBSITE.glob("*.md"):
        text = re.sub(r"\{\{ (\w+) \}\}", lambda m: str(facts[m[1]]), page.read_text("utf-8"))
        (src / page.name).write_text(text, encoding="utf-8")
    if (ROOT / "docs").is_dir():
        shutil.copytree(ROOT / "docs", src / "docs")
    shutil.copy(ROOT / "README.md", src / "_readme.md")

    (src / "lessons").mkdir()
    (extra / "notebooks").mkdir()
    owner, name = links.repository()
    for stem, nb in lessons.items():
        site_nb = prepare.prepare_notebook(
            nb,
            f"lessons/solutions/{stem}.py",
            recorded.get(stem),
            download=f"{stem}.ipynb",
            colab=links.colab_url(owner, name, f"lessons/{stem}.ipynb"),
        )
        (src / "lessons" / f"{stem}.ipynb").write_text(
            json.dumps(site_nb, ensure_ascii=False), encoding="utf-8"
        )
        shutil.copy(ROOT / "lessons" / f"{stem}.ipynb", extra / "notebooks" / f"{stem}.ipynb")

    shutil.copy(PLOTLY_JS, static / "plotly-cartesian.min.js")
    if any(
        t.get("type", "scatter") not in prepare.CARTESIAN
        for nb in lessons.values()
        for fig in prepare.figures(nb)
        for t in fig.get("data", [])
    ):  # a trace type beyond the cartesian bundle: ship plotly's full bundle too (4.8 MB)
        import plotly

        full = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
        shutil.copy(full, static / "plotly.min.js")
    (static / "katex" / "fonts").mkdir(parents=True)
    shutil.copy(KATEX / "katex.min.css", static / "katex" / "katex.min.css")
    for font in (KATEX / "fonts").glob("*.woff2"):  # every browser with woff2 takes it first
        shutil.copy(font, static / "katex" / "fonts" / font.name)
    (src / "_recordings.json").write_text(json.dumps(notes, ensure_ascii=False), encoding="utf-8")
    return notes


def page_sizes(out: Path) -> list[tuple[str, int, int]]:
    """(page, its HTML bytes, bytes of the HTML and the files it names: styles, scripts, images,
    a recorded explorer in a frame, plotly.js when it has a figure). KaTeX's fonts (about 30 KB
    each, the ones a page's math uses) come on top: tests/test_site.py measures in a browser."""
    rows = []
    plotly = (out / "_static" / "plotly-cartesian.min.js").stat().st_size
    for page in sorted(out.rglob("*.html")):
        rel = page.relative_to(out)
        if rel.parts[0] in ("_static", "notebooks", "_images") or rel.name in (
            "genindex.html",
            "search.html",
        ):
            continue
        markup = page.read_text(encoding="utf-8")
        total, seen = len(markup.encode("utf-8")), set()
        for ref in re.findall(r'(?:src|href)="([^"#?]+)', markup):
            if ref.endswith((".css", ".js", ".png", ".svg", ".jpg")) or (
                ref.endswith(".html") and f'<iframe class="lstmviz-frame" src="{ref}' in markup
            ):
                target = (page.parent / ref).resolve()
                if target.is_file() and target not in seen:
                    seen.add(target)
                    total += target.stat().st_size
        if "lstmviz-plot" in markup:
            total += plotly
        rows.append((str(rel), len(markup.encode("utf-8")), total))
    return rows


def build(out: Path, work: Path) -> float:
    """Lay out, record, run Sphinx into ``out``; returns the seconds it took."""
    need_tools()
    began = time.monotonic()
    src, static, extra = work / "src", work / "static", work / "extra"
    notes = lay_out(src, static, extra)
    laid = time.monotonic() - began
    shutil.rmtree(out, ignore_errors=True)
    env = {
        **os.environ,
        "LSTMVIZ_SITE_STATIC": str(static),
        "LSTMVIZ_SITE_KATEX": str(KATEX / "katex.min.js"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        ),
    }
    log = work / "sphinx.log"
    with open(log, "w") as f:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "sphinx",
                "-b",
                "html",
                "-q",
                "-j",
                "2",
                "-c",
                str(WEBSITE),
                "-d",
                str(work / "doctrees"),
                str(src),
                str(out),
            ],
            env=env,
            stdout=f,
            stderr=subprocess.STDOUT,
        )
    warnings = [line for line in log.read_text().splitlines() if "WARNING" in line]
    if done.returncode:
        sys.exit(f"error: Sphinx failed (exit {done.returncode}):\n{log.read_text()[-4000:]}")
    took = time.monotonic() - began
    cpu = sum(
        getattr(resource.getrusage(who), f)
        for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
        for f in ("ru_utime", "ru_stime")
    )
    print(
        f"site built in {took:.0f} s ({laid:.0f} s laying out and recording; {cpu:.0f} s of CPU, "
        f"load average {os.getloadavg()[0]:.1f}) -> {out}"
    )
    for name, info in notes.items():
        size = info["bytes"] / 1e6
        print(f"  recorded explorer {name}: {info['chars']} characters, {size:.2f} MB")
    print(f"  {len(warnings)} Sphinx warning(s) (all in {log})")
    for line in warnings[:10]:
        print("   ", line[:300])
    print("  page: HTML / with everything it loads (MB)")
    for rel, html_bytes, total in page_sizes(out):
        print(f"    {rel:48s} {html_bytes / 1e6:5.2f} / {total / 1e6:5.2f}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "site-work")
    args = parser.parse_args()
    build(args.out.resolve(), args.work.resolve())


if __name__ == "__main__":
    main()
