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
  document.addEventListener("htmx:sendError", function (event) {
    var state = document.getElementById("save-state");
    if (state && event.target.id === "record-form") {
      state.textContent = "Not saved: the connection dropped. Keep typing; it saves again when back.";
    }
  });

  // Every refusal or failure of an HTMX action is said beside what was clicked, in words.
  // A 422 answer is the panel itself, re-rendered with its reason, and is swapped in (the
  // htmx-config in base.html); any other error answer is not swapped (it would replace the
  // panel with an error page), so its message is read out of it and shown here.
  function messageOf(xhr) {
    var status = xhr ? xhr.status : 0;
    var type = xhr && xhr.getResponseHeader("Content-Type") || "";
    var text = "";
    try {
      if (type.indexOf("application/json") === 0) {
        var data = JSON.parse(xhr.responseText);
        text = data.error || data.message || "";
      } else if (type.indexOf("text/html") === 0 && xhr.responseText) {
        var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
        var part = doc.querySelector("[data-error-message], [role=alert], .error") ||
          doc.body || doc.documentElement;
        var blocks = Array.prototype.map.call(part.querySelectorAll("h1, h2, p, li"), function (b) {
          var t = b.textContent.trim();
          return /^H/.test(b.tagName) && !/[.!?:]$/.test(t) ? t + "." : t;
        }).filter(Boolean);
        text = blocks.length ? blocks.join(" ") : part.textContent;
      } else if (xhr) {
        text = xhr.responseText || "";
      }
    } catch (e) { text = ""; }
    text = text.replace(/\s+/g, " ").trim().slice(0, 300);
    if (status === 401) {
      return "Not done: your session has ended. Sign in again in another tab; what you typed here is still here.";
    }
    if (status >= 500) {
      return "Not done: the server failed (error " + status + "). Try again; if it keeps failing, tell a supervisor.";
    }
    return "Not done: " + (text || "the server refused this (error " + status + ").");
  }
  function showActionError(event, message) {
    var elt = event.detail.elt;
    if (!elt || !elt.isConnected) { return; }
    var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    var near = trigger && trigger.submitter || elt;
    if (elt.id === "record-form") {
      var state = document.getElementById("save-state");
      if (state) { state.textContent = message.replace(/^Not done:/, "Not saved:"); return; }
    }
    var note = near.nextElementSibling;
    if (!note || !note.classList.contains("action-error")) {
      note = document.createElement("p");
      note.className = "error action-error";
      note.setAttribute("role", "alert");
      near.insertAdjacentElement("afterend", note);
    }
    note.textContent = message;
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status === 422) { return; }  // swapped in: the panel says why
    showActionError(event, messageOf(xhr));
  });
  document.addEventListener("htmx:sendError", function (event) {
    showActionError(event, "Not done: no answer from the server (the connection dropped). " +
      "It may not have happened: check before you tell the caller.");
  });
  document.addEventListener("htmx:timeout", function (event) {
    showActionError(event, "Not done: the server took too long. It may not have happened: " +
      "check before you tell the caller.");
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    // A later success clears what an earlier failure said beside the same control.
    if (!event.detail.successful) { return; }
    var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    var near = trigger && trigger.submitter || event.detail.elt;
    var note = near && near.nextElementSibling;
    if (note && note.classList.contains("action-error")) { note.remove(); }
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
