// Dashboard behaviour: CSRF header on HTMX requests, the idle warning, autosave state.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  document.addEventListener("htmx:configRequest", function (event) {
    if (meta) { event.detail.headers["X-CSRF-Token"] = meta.content; }
  });

  // Idle sign-out: the server ends the session after the idle time; warn a minute before.
  var body = document.body;
  var idleSeconds = parseInt(body.getAttribute("data-idle-seconds") || "0", 10);
  var warning = document.getElementById("idle-warning");
  var warnTimer = null, endTimer = null;
  function schedule(seconds) {
    if (!idleSeconds) { return; }
    clearTimeout(warnTimer); clearTimeout(endTimer);
    if (warning) { warning.hidden = true; }
    warnTimer = setTimeout(function () {
      if (warning) {
        warning.hidden = false;
        var button = document.getElementById("stay-signed-in");
        if (button) { button.focus(); }
      }
    }, Math.max(0, seconds - 60) * 1000);
    endTimer = setTimeout(function () {
      window.location.assign(body.getAttribute("data-sign-in-url"));
    }, seconds * 1000 + 1500);
  }
  function keepAlive() {
    fetch(body.getAttribute("data-keepalive-url"), {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": meta ? meta.content : "" }
    }).then(function (r) {
      if (r.ok) { schedule(idleSeconds); } else { window.location.assign(body.getAttribute("data-sign-in-url")); }
    });
  }
  if (idleSeconds) {
    schedule(idleSeconds);
    var stay = document.getElementById("stay-signed-in");
    if (stay) { stay.addEventListener("click", keepAlive); }
    // Work the server does not see (a call on the browser phone) keeps the session too.
    document.addEventListener("helpline:active", keepAlive);
    document.addEventListener("htmx:afterRequest", function (event) {
      var path = event.detail.pathInfo && event.detail.pathInfo.requestPath || "";
      if (path.indexOf("/events") === -1) { schedule(idleSeconds); }
    });
  }

  // Autosave state shown next to the record form.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var state = document.getElementById("save-state");
    if (state && event.target.id === "record-form") { state.textContent = "Saving…"; }
  });
  document.addEventListener("htmx:responseError", function (event) {
    var state = document.getElementById("save-state");
    if (state && event.target.id === "record-form") {
      state.textContent = "Not saved: check the connection. Your text is still here.";
    }
  });
  document.addEventListener("htmx:sendError", function (event) {
    var state = document.getElementById("save-state");
    if (state && event.target.id === "record-form") {
      state.textContent = "Not saved: the connection dropped. Keep typing; it saves again when back.";
    }
  });

  // Imminent risk shows the crisis steps at once (the server decides too, on save).
  function syncCrisis() {
    var panel = document.getElementById("crisis-steps");
    if (!panel) { return; }
    var imminent = Array.prototype.some.call(
      document.querySelectorAll('select[data-risk]'), function (s) { return s.value === "imminent"; });
    panel.hidden = !imminent;
  }
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("select[data-risk]")) { syncCrisis(); }
  });
  document.addEventListener("DOMContentLoaded", syncCrisis);
})();

// Live queues: server-sent events replace the table (the server renders and escapes it).
(function () {
  "use strict";
  var box = document.querySelector("[data-sse-url]");
  if (!box || !window.EventSource) { return; }
  var source = new EventSource(box.getAttribute("data-sse-url"));
  source.addEventListener("queues", function (event) { box.innerHTML = event.data; });
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED) { box.classList.add("stale"); }
  };
  window.addEventListener("beforeunload", function () { source.close(); });
})();
