// Wallboard: replace the board with each server-sent rendering (no inline script: CSP).
(function () {
  "use strict";
  var box = document.querySelector("[data-board-events]");
  var state = document.getElementById("live-state");
  if (!box || !window.EventSource) { return; }
  var source = new EventSource(box.getAttribute("data-board-events"));
  source.addEventListener("board", function (event) {
    // Server-rendered, escaped HTML from our own origin.
    box.innerHTML = event.data;
    box.classList.remove("stale");
    if (state) { state.textContent = "live"; }
  });
  source.addEventListener("error", function () {
    box.classList.add("stale");
    if (state) { state.textContent = "reconnecting…"; }
  });
})();
