// Dashboard behaviour: CSRF header on HTMX requests, the idle warning, autosave state.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  document.addEventListener("htmx:configRequest", function (event) {
    if (meta) { event.detail.headers["X-CSRF-Token"] = meta.content; }
  });

  // Idle sign-out: the server ends the session after the idle time; warn a minute before.
  // The session is shared by every tab, so before warning or giving up, ask the server how
  // long it has left (another tab may have kept it alive); a tab whose session did end shows
  // a sign-in overlay over what it was showing, never another page.
  var body = document.body;
  var idleSeconds = parseInt(body.getAttribute("data-idle-seconds") || "0", 10);
  var keepaliveUrl = body.getAttribute("data-keepalive-url") || "";
  var statusUrl = body.getAttribute("data-status-url") || keepaliveUrl.replace(/keepalive$/, "status");
  var warning = document.getElementById("idle-warning");
  var warnTimer = null, endTimer = null;
  function secondsLeft(then) {
    fetch(statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        var json = r.ok && !r.redirected &&
          (r.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        return json ? r.json() : { seconds_left: 0 };
      })
      .then(function (data) { then(data.seconds_left || 0); })
      .catch(function () { then(-1); });  // no answer: not known to be over, ask again later
  }
  function signedOut() {
    clearTimeout(warnTimer); clearTimeout(endTimer);
    if (warning) { warning.hidden = true; }
    document.dispatchEvent(new CustomEvent("helpline:signed-out"));
  }
  function schedule(seconds) {
    if (!idleSeconds) { return; }
    clearTimeout(warnTimer); clearTimeout(endTimer);
    if (warning) { warning.hidden = true; }
    warnTimer = setTimeout(function () {
      secondsLeft(function (left) {
        if (left > 90 || left < 0) { schedule(left > 0 ? left : 60); return; }
        if (left === 0) { signedOut(); return; }
        if (warning) {
          warning.hidden = false;
          var button = document.getElementById("stay-signed-in");
          if (button) { button.focus(); }
        }
      });
    }, Math.max(0, seconds - 60) * 1000);
    endTimer = setTimeout(function () {
      secondsLeft(function (left) {
        if (left === 0) { signedOut(); } else { schedule(left > 0 ? left : 60); }
      });
    }, seconds * 1000 + 1500);
  }
  function keepAlive() {
    fetch(keepaliveUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": meta ? meta.content : "" }
    }).then(function (r) {
      if (r.status === 204) { schedule(idleSeconds); } else { signedOut(); }
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

// Admin and supervisor pages: the sign-in overlay, the wall display's keep-alive, unsaved
// changes, folded parts opened by a link, printing.
(function () {
  "use strict";
  var body = document.body;
  var meta = document.querySelector('meta[name="csrf-token"]');

  // A tab whose session ended stays where it was, covered by a way back in: the page under
  // it is no longer live and cannot save, so it says so instead of turning into another page.
  function showSignInOverlay() {
    if (document.getElementById("signin-overlay")) { return; }
    var here = window.location.pathname + window.location.search;
    var link = document.createElement("a");
    link.className = "button";
    link.href = "/sign-in?idle=1&next=" + encodeURIComponent(here);
    link.textContent = "Sign in again";
    var box = document.createElement("div");
    box.className = "signin-overlay-box";
    var title = document.createElement("h2");
    title.id = "signin-overlay-title";
    title.textContent = "You are signed out";
    var text = document.createElement("p");
    text.id = "signin-overlay-text";
    text.textContent = "Nothing happened in this browser for a while, so you were signed out " +
      "to protect callers' information. This page is no longer live and cannot save. " +
      "Sign in to come back to it.";
    var action = document.createElement("p");
    action.appendChild(link);
    box.appendChild(title); box.appendChild(text); box.appendChild(action);
    var overlay = document.createElement("div");
    overlay.id = "signin-overlay";
    overlay.className = "signin-overlay";
    overlay.setAttribute("role", "alertdialog");
    overlay.setAttribute("aria-modal", "true");
    overlay.setAttribute("aria-labelledby", "signin-overlay-title");
    overlay.setAttribute("aria-describedby", "signin-overlay-text");
    overlay.appendChild(box);
    Array.prototype.forEach.call(document.querySelectorAll("body > header, body > main"),
      function (part) { part.setAttribute("inert", ""); });
    body.appendChild(overlay);
    link.focus();
    unsaved = false;  // the overlay says it: leaving must not ask again
  }
  document.addEventListener("helpline:signed-out", showSignInOverlay);

  // A wall display (the wallboard's display mode) keeps its session alive while the server
  // allows a display to (WALLBOARD_DISPLAY_IDLE_MINUTES since someone last opened it).
  var displayUrl = body.getAttribute("data-display-keepalive-url");
  var displayEvery = parseInt(body.getAttribute("data-display-keepalive-seconds") || "0", 10);
  if (displayUrl && displayEvery > 0) {
    var beat = setInterval(function () {
      fetch(displayUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": meta ? meta.content : "" }
      }).then(function (r) {
        if (r.status !== 204) { clearInterval(beat); showSignInOverlay(); }
      }).catch(function () { /* the connection dropped: the next beat tries again */ });
    }, displayEvery * 1000);
  }

  // A form marked data-warn-unsaved asks before the page is left with changes not saved.
  var unsaved = false;
  var form = document.querySelector("form[data-warn-unsaved]");
  var state = document.getElementById("unsaved-state");
  if (form) {
    unsaved = form.getAttribute("data-dirty") === "1";  // a refused save: nothing was kept
    var mark = function () {
      if (!unsaved && state) { state.textContent = "You have changes that are not saved."; }
      unsaved = true;
    };
    form.addEventListener("input", mark);
    form.addEventListener("change", mark);
    form.addEventListener("submit", function () { unsaved = false; });
    window.addEventListener("beforeunload", function (event) {
      if (!unsaved) { return; }
      event.preventDefault();
      event.returnValue = "";  // older browsers need a value to ask
    });
  }

  // A link to a folded part (or to a field inside one) opens it.
  function openTarget(id) {
    var target = id && document.getElementById(id);
    var part = target && (target.tagName === "DETAILS" ? target : target.closest("details"));
    if (part) { part.open = true; }
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest('a[href^="#"]');
    if (link) { openTarget(decodeURIComponent(link.getAttribute("href").slice(1))); }
  });
  if (window.location.hash) { openTarget(decodeURIComponent(window.location.hash.slice(1))); }

  // Print buttons (recovery codes): the print stylesheet leaves only what is to be kept.
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
})();

// The call record: keyboard shortcuts (listed on the page, in #shortcut-list), the header's
// key facts kept in step with the form, and a refused wrap-up brought into view.
(function () {
  "use strict";
  var header = document.getElementById("record-header");
  if (!header) { return; }
  var status = document.getElementById("shortcut-status");
  function say(message) { if (status) { status.textContent = message; } }
  // A key without a modifier must never act while someone types (a "/" in the notes).
  function typing(target) {
    return !!(target && target.closest &&
      target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])"));
  }
  function visible(elt) { return !!(elt && elt.offsetParent !== null && !elt.disabled); }

  function searchDirectory() {
    var form = document.getElementById("referral-search");
    var field = form && Array.prototype.filter.call(
      form.querySelectorAll("input:not([type=hidden]), select"), visible)[0];
    if (!field) { say("The directory search is not on this page (the record is closed)."); return; }
    form.scrollIntoView({ block: "start" });
    field.focus({ preventScroll: true });
    say("Directory search: fill in and press Enter.");
  }
  function attachButtons() {
    var results = document.getElementById("referral-results");
    return results ? Array.prototype.filter.call(
      results.querySelectorAll('button[aria-label^="Attach"]'), visible) : [];
  }
  // Attach only what the counselor is on: the first press goes to the first result, so a
  // result is never attached unseen.
  function attach() {
    var buttons = attachButtons();
    if (!buttons.length) { say("No result to attach: search the directory first (Alt+S)."); return; }
    var active = document.activeElement;
    var item = active && active.closest && active.closest("#referral-results li");
    var button = item && item.querySelector('button[aria-label^="Attach"]');
    if (button && visible(button)) {
      say(button.getAttribute("aria-label") + "…");
      button.click();
      return;
    }
    buttons[0].scrollIntoView({ block: "center" });
    buttons[0].focus({ preventScroll: true });
    say("On the first result: Alt+A again (or Enter) attaches it; Tab moves to the next.");
  }
  function wrapUp() {
    var button = document.getElementById("wrap-up-top");
    if (!button) { say("This record is not yours to wrap up, or it is closed."); return; }
    button.click();
  }
  var withAlt = { KeyS: searchDirectory, KeyA: attach, KeyW: wrapUp };
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) { return; }
    if (event.altKey && !event.ctrlKey && !event.metaKey && !event.shiftKey) {
      var act = withAlt[event.code];
      if (act) { event.preventDefault(); act(); }
      return;
    }
    if (event.key === "/" && !event.altKey && !event.ctrlKey && !event.metaKey &&
        !typing(event.target)) {
      event.preventDefault();
      searchDirectory();
    }
  });

  // The risk levels in the header follow the form as it is filled in.
  var form = document.getElementById("record-form");
  if (form) {
    form.addEventListener("change", function (event) {
      var select = event.target;
      if (!select || select.tagName !== "SELECT") { return; }
      Array.prototype.forEach.call(header.querySelectorAll('[data-mirror="' + select.name + '"]'),
        function (fact) {
          var option = select.options[select.selectedIndex];
          fact.textContent = select.value && option ? option.textContent.trim() : "not recorded";
        });
    });
  }

  // Wrap up from the header: a refusal appears beside the form's own Wrap up, further down,
  // so it is scrolled to and focused. A refusal already on the page when it loaded is not.
  function seen() {
    var refused = document.getElementById("wrap-up-refused");
    if (refused) { refused.setAttribute("data-seen", ""); }
    return refused;
  }
  seen();
  document.addEventListener("htmx:afterSettle", function () {
    var refused = document.getElementById("wrap-up-refused");
    if (!refused || refused.hasAttribute("data-seen")) { return; }
    seen();
    refused.scrollIntoView({ block: "center" });
    refused.focus({ preventScroll: true });
  });
})();

// The referrals panel shows the filters of what is looked for (centers or meetings) and hides
// the others; without this script every filter shows, each labelled with what it is for.
(function () {
  "use strict";
  var kind = document.getElementById("ref-kind");
  if (!kind) { return; }
  function sync() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-ref-filters]"), function (part) {
      part.hidden = part.getAttribute("data-ref-filters") !== kind.value;
    });
  }
  kind.addEventListener("change", sync);
  sync();
})();
