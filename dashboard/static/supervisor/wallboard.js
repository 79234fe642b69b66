// Wallboard: replace the board with each server-sent rendering (no inline script: CSP).
// A supervisor using one of the board's forms (setting a status, acknowledging a hand) keeps
// it: the newest rendering waits until focus and pointer leave the form.
(function () {
  "use strict";
  var box = document.querySelector("[data-board-events]");
  var state = document.getElementById("live-state");
  if (!box || !window.EventSource) { return; }
  var pending = null;
  function inUse() {
    var active = document.activeElement;
    return Boolean((active && box.contains(active) && active.closest("form")) ||
                   box.querySelector("form:hover"));
  }
  function show() {
    if (pending === null || inUse()) { return; }
    // Server-rendered, escaped HTML from our own origin.
    box.innerHTML = pending;
    pending = null;
  }
  var source = new EventSource(box.getAttribute("data-board-events"));
  source.addEventListener("board", function (event) {
    pending = event.data;
    show();
    box.classList.remove("stale");
    if (state) { state.textContent = "live"; }
  });
  source.addEventListener("error", function () {
    box.classList.add("stale");
    if (state) { state.textContent = "reconnecting…"; }
  });
  box.addEventListener("focusout", function () { window.setTimeout(show, 0); });
  box.addEventListener("mouseleave", show);
  window.setInterval(show, 1000);
})();
