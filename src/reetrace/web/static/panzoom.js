// Pan and zoom for the inline trace graph: drag to pan, wheel or the buttons to zoom, "fit" to reset.
// Written for reetrace (no third-party code): it only rewrites the SVG's viewBox.
(function () {
  "use strict";
  function attach(box) {
    var svg = box.querySelector("svg.trace-graph");
    if (!svg) return;
    var full = svg.viewBox.baseVal;
    var view = { x: full.x, y: full.y, w: full.width, h: full.height };
    var start = { x: view.x, y: view.y, w: view.w, h: view.h };
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    function apply() { svg.setAttribute("viewBox", [view.x, view.y, view.w, view.h].join(" ")); }
    function zoom(factor, cx, cy) {
      var r = svg.getBoundingClientRect();
      var px = view.x + view.w * ((cx - r.left) / r.width);
      var py = view.y + view.h * ((cy - r.top) / r.height);
      view.w *= factor; view.h *= factor;
      view.x = px - (px - view.x) * factor; view.y = py - (py - view.y) * factor;
      apply();
    }
    svg.addEventListener("wheel", function (e) {
      e.preventDefault();
      zoom(e.deltaY > 0 ? 1.15 : 1 / 1.15, e.clientX, e.clientY);
    }, { passive: false });
    var drag = null;
    svg.addEventListener("pointerdown", function (e) {
      if (e.target.closest("a")) return; // a click on a node follows its link
      drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y };
      svg.setPointerCapture(e.pointerId);
    });
    svg.addEventListener("pointermove", function (e) {
      if (!drag) return;
      var r = svg.getBoundingClientRect();
      view.x = drag.vx - (e.clientX - drag.x) * view.w / r.width;
      view.y = drag.vy - (e.clientY - drag.y) * view.h / r.height;
      apply();
    });
    svg.addEventListener("pointerup", function () { drag = null; });
    box.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var r = svg.getBoundingClientRect();
        var f = b.getAttribute("data-zoom");
        if (f === "fit") { view = { x: start.x, y: start.y, w: start.w, h: start.h }; apply(); return; }
        zoom(parseFloat(f), r.left + r.width / 2, r.top + r.height / 2);
      });
    });
  }
  document.querySelectorAll(".graph-box").forEach(attach);
})();
