// lstmviz website: draw the lessons' plotly figures from their stored JSON with the plotly.js
// shipped in _static/ (loaded once, when the first figure comes near the screen), open the
// recorded explorers, and size their frames to their content. Nothing is fetched from elsewhere.
(function () {
  "use strict";
  const here = document.currentScript.src;
  const base = here.slice(0, here.lastIndexOf("/") + 1);  // the site's _static/
  const bundles = {};

  function plotly(bundle) {
    const file = bundle === "full" ? "plotly.min.js" : "plotly-cartesian.min.js";
    if (!bundles[file]) {
      bundles[file] = new Promise((resolve, reject) => {
        const s = document.createElement("script");
        s.src = base + file;
        s.onload = () => resolve(window.Plotly);
        s.onerror = () => reject(new Error("could not load " + s.src));
        document.head.appendChild(s);
      });
    }
    return bundles[file];
  }

  function draw(box) {
    if (box.dataset.drawn) return;
    box.dataset.drawn = "1";
    const fig = JSON.parse(box.nextElementSibling.textContent);
    plotly(box.dataset.bundle).then((Plotly) => {
      const layout = Object.assign({}, fig.layout);
      // a figure wider than the column is fitted to it; the others keep their width or fill it
      if (layout.width && layout.width > box.clientWidth) delete layout.width;
      if (!layout.width) layout.autosize = true;
      return Plotly.newPlot(box, fig.data, layout, {
        responsive: !layout.width, displaylogo: false, scrollZoom: false,
      });
    }).then(() => { box.style.minHeight = ""; box.dataset.ready = "1"; });
  }

  function frame(box) {
    const f = document.createElement("iframe");
    f.className = "lstmviz-frame";
    f.src = box.dataset.src;
    f.title = box.dataset.title;
    box.querySelector(".lstmviz-open").parentElement.replaceWith(f);
    fit(f);
    return f;
  }

  function fit(f) {  // the frame as tall as the explorer in it (same site, so we may look in)
    const resize = () => {
      try {
        const doc = f.contentDocument;  // the body's height, not the frame's own
        if (doc && doc.body && doc.body.scrollHeight) {
          f.style.height = doc.body.scrollHeight + 24 + "px";
        }
      } catch (e) { /* another origin: keep the stylesheet's height */ }
    };
    const watch = () => {
      resize();
      try { new ResizeObserver(resize).observe(f.contentDocument.body); } catch (e) { /* old */ }
    };
    f.addEventListener("load", watch);
    try { if (f.contentDocument.readyState === "complete" && f.contentDocument.body.childElementCount) watch(); } catch (e) { /* not yet */ }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const boxes = document.querySelectorAll(".lstmviz-plot");
    if ("IntersectionObserver" in window) {
      const seen = new IntersectionObserver((entries) => {
        for (const e of entries) if (e.isIntersecting) { seen.unobserve(e.target); draw(e.target); }
      }, { rootMargin: "600px 0px" });
      boxes.forEach((b) => seen.observe(b));
    } else {
      boxes.forEach(draw);
    }
    for (const box of document.querySelectorAll(".lstmviz-recorded")) {
      box.querySelector(".lstmviz-open").addEventListener("click", () => frame(box));
    }
    document.querySelectorAll("iframe.lstmviz-frame").forEach(fit);
  });
})();
