// The call offered to this counselor (dashboard/offers.py): a ringing banner on every page,
// with the caller's queue, language and wait, the ring time left, Accept and Decline; a ring
// sound, a desktop notification (when allowed) and the tab title while it rings. When an offer
// rang out, the counselor is Away and a notice says so until they are Available again.
//
// What rings comes from the server-sent events of /offers/events. A browser turned away by the
// server (it holds only so many streams) or whose stream fails asks /offers/current every
// second instead, and tries the stream again a while later.
(function () {
  "use strict";
  var root = document.getElementById("offers");
  if (!root) { return; }
  var eventsUrl = root.getAttribute("data-events-url");
  var currentUrl = root.getAttribute("data-current-url");
  var statusUrl = root.getAttribute("data-status-url");
  var soundUrl = root.getAttribute("data-sound-url");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";
  var STATUS_WORDS = { available: "Available", away: "Away", offline: "Offline",
    on_call: "On a call", wrap_up: "Wrap-up" };
  var POLL_MS = 1000;
  var POLL_FOR_MS = 60000;     // polling this long before the stream is tried again
  var SHORT_STREAM_MS = 5000;  // a stream that ends this soon was turned away
  var baseTitle = document.title;

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text) { node.textContent = text; }
    return node;
  }

  // --- the banner (built here: base.html holds only the container) ------------------------
  var banner = el("div", { id: "offer-banner", "class": "offer-banner", role: "alertdialog",
    "aria-labelledby": "offer-title", "aria-describedby": "offer-summary" });
  banner.hidden = true;
  var title = el("h2", { id: "offer-title", "class": "offer-title" }, "A call is ringing for you");
  var summary = el("p", { id: "offer-summary", "class": "offer-summary" });
  var times = el("p", { "class": "offer-times" });
  var waitedText = el("span", { id: "offer-waited" });
  var leftText = el("span", { id: "offer-left" });
  times.appendChild(waitedText);
  times.appendChild(document.createTextNode(" · "));
  times.appendChild(leftText);
  var buttons = el("p", { "class": "offer-actions" });
  var acceptButton = el("button", { type: "button", id: "offer-accept",
    "aria-keyshortcuts": "Alt+Shift+A" }, "Accept");
  var declineButton = el("button", { type: "button", id: "offer-decline", "class": "secondary",
    "aria-keyshortcuts": "Alt+Shift+D" }, "Decline");
  var closeButton = el("button", { type: "button", id: "offer-close", "class": "secondary" },
    "Close");
  closeButton.hidden = true;
  buttons.appendChild(acceptButton);
  buttons.appendChild(declineButton);
  buttons.appendChild(closeButton);
  var keys = el("p", { "class": "hint offer-keys" },
    "Keys: Alt+Shift+A accepts, Alt+Shift+D declines.");
  var message = el("p", { id: "offer-message", "class": "offer-message", role: "alert" });
  banner.appendChild(title);
  banner.appendChild(summary);
  banner.appendChild(times);
  banner.appendChild(buttons);
  banner.appendChild(keys);
  banner.appendChild(message);
  // Said once when something changes (never the counting seconds).
  var live = el("p", { id: "offer-live", "class": "sr-only", "aria-live": "polite" });

  // --- the missed-call notice: stays until the counselor is Available again ---------------
  var missed = el("div", { id: "offer-missed", "class": "offer-missed", role: "status" });
  missed.hidden = true;
  var missedText = el("p", {}, "You missed a call and are now Away. " +
    "Set yourself Available when ready.");
  var availableForm = el("form", { method: "post", action: statusUrl, "class": "actions" });
  availableForm.appendChild(el("input", { type: "hidden", name: "csrf_token", value: csrf }));
  availableForm.appendChild(el("input", { type: "hidden", name: "status", value: "available" }));
  availableForm.appendChild(el("button", { type: "submit", id: "offer-set-available" },
    "Set me Available"));
  missed.appendChild(missedText);
  missed.appendChild(availableForm);

  root.appendChild(missed);
  root.appendChild(banner);
  root.appendChild(live);

  // --- ringing -------------------------------------------------------------------------------
  var offer = null;          // the offer shown, as the server last described it
  var shownAt = 0;           // when that description arrived (the counters count from it)
  var ticker = null;
  var busy = false;          // an Accept or Decline is on its way
  var leaving = false;       // accepted: the record is opening
  var notification = null;
  var returnFocus = null;
  var sound = null;
  if (soundUrl && window.Audio) {
    sound = new Audio(soundUrl);
    sound.loop = true;
    sound.preload = "auto";
  }
  root.setAttribute("data-sound", "off");

  function clock(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }
  function describe(o) {  // "Crisis, English": the queue's name says its language
    return o.queue.indexOf(o.language) === -1 ? o.queue + ", " + o.language : o.queue;
  }
  function callback(o) { return o.kind === "callback"; }
  function tick() {
    if (!offer) { return; }
    var gone = (Date.now() - shownAt) / 1000;
    waitedText.textContent = callback(offer)
      ? "Booked " + clock((offer.booked_seconds || 0) + gone) + " ago"
      : "Waiting " + clock(offer.waited_seconds + gone);
    var left = offer.rings_seconds_left - gone;
    leftText.textContent = left > 0 ? "rings for " + clock(left) + " more"
      : "ringing out: it goes to the next counselor";
  }
  function startSound() {
    if (!sound) { return; }
    try { sound.currentTime = 0; } catch (e) { /* not loaded yet: it starts at 0 anyway */ }
    var played = sound.play();
    root.setAttribute("data-sound", "playing");
    if (played && played.catch) {
      // Until the person has clicked or typed on the page the browser may refuse to play:
      // the banner, the title and the notification still ring.
      played.catch(function () {
        if (offer) { root.setAttribute("data-sound", "blocked"); }
      });
    }
  }
  // The first click or key on the page while it rings lets a refused ring sound play.
  function unblock(event) {
    if (!offer || busy || root.getAttribute("data-sound") !== "blocked") { return; }
    if (banner.contains(event.target) || (event.altKey && event.shiftKey)) { return; }  // answering
    startSound();
  }
  document.addEventListener("pointerdown", unblock, true);
  document.addEventListener("keydown", unblock, true);
  function stopSound() {
    if (sound) { sound.pause(); }
    root.setAttribute("data-sound", "off");
  }
  function notify(o) {
    if (!window.Notification || Notification.permission !== "granted") { return; }
    try {
      notification = new Notification(
        (callback(o) ? "Callback ringing: " : "Call ringing: ") + describe(o), {
        body: (callback(o) ? "Booked " + clock(o.booked_seconds || 0) + " ago"
          : "Waiting " + clock(o.waited_seconds)) + ". Accept or decline on the helpline's page.",
        tag: "helpline-offer-" + o.id, requireInteraction: true
      });
      notification.onclick = function () {
        window.focus();
        acceptButton.focus();
        if (notification) { notification.close(); }
      };
    } catch (e) { notification = null; }  // some browsers allow notifications only by a worker
  }
  function typing(target) {
    return !!(target && target.closest &&
      target.closest("input:not([type=button]):not([type=submit]):not([type=checkbox])" +
                     ":not([type=radio]), textarea, select, [contenteditable]:not([contenteditable=false])"));
  }

  function ring(o) {
    offer = o;
    shownAt = Date.now();
    summary.textContent = (callback(o) ? "Callback booked from the queue: " : "") +
      describe(o) + ".";
    title.textContent = callback(o) ? "A callback is ringing for you"
      : o.crisis ? "A crisis call is ringing for you" : "A call is ringing for you";
    message.textContent = "";
    acceptButton.hidden = declineButton.hidden = keys.hidden = false;
    acceptButton.disabled = declineButton.disabled = false;
    closeButton.hidden = true;
    banner.classList.toggle("crisis", !!o.crisis);
    banner.hidden = false;
    tick();
    clearInterval(ticker);
    ticker = setInterval(tick, 1000);
    document.title = "Ringing: " + (callback(o) ? "callback, " : "") + describe(o) + " — " +
      baseTitle;
    startSound();
    notify(o);
    live.textContent = "";
    // Someone typing keeps their field: a space would otherwise accept the call unseen. The
    // alert and the keys in the banner reach them there.
    var active = document.activeElement;
    if (!typing(active)) {
      returnFocus = active && active !== document.body ? active : null;
      acceptButton.focus();
    }
  }
  function quiet() {
    clearInterval(ticker);
    ticker = null;
    stopSound();
    document.title = baseTitle;
    if (notification) { notification.close(); notification = null; }
  }
  function hide(said) {
    var hadFocus = banner.contains(document.activeElement);
    offer = null;
    quiet();
    banner.hidden = true;
    if (said) { live.textContent = said; }
    if (hadFocus) {
      var back = returnFocus && returnFocus.isConnected ? returnFocus
        : document.getElementById("main");
      if (back) { back.focus(); }
    }
    returnFocus = null;
  }
  // An Accept or Decline the server refused: its words stay in the banner until closed.
  function refused(words) {
    offer = null;
    quiet();
    busy = false;
    message.textContent = words;
    leftText.textContent = "";
    acceptButton.hidden = declineButton.hidden = keys.hidden = true;
    closeButton.hidden = false;
    closeButton.focus();
  }

  // Home's status follows what routing did (Away after a missed call), once per change.
  var lastStatus = null;
  function showStatus(status) {
    if (status === lastStatus || !STATUS_WORDS[status]) { return; }
    var first = lastStatus === null;
    lastStatus = status;
    var badge = document.getElementById("current-status");
    if (!badge) { return; }
    badge.textContent = STATUS_WORDS[status];
    badge.className = badge.className.replace(/\bstatus-[a-z_]+/, "status-" + status);
    var choice = document.getElementById("status");  // what the page was loaded with, at first
    if (!first && choice && choice !== document.activeElement &&
        choice.querySelector('option[value="' + status + '"]')) { choice.value = status; }
  }

  function apply(state) {
    if (leaving) { return; }
    missed.hidden = !state.missed;
    showStatus(state.status);
    var o = state.offer;
    if (o) {
      if (busy && offer && offer.id === o.id) { return; }
      if (!offer || offer.id !== o.id) {
        ring(o);
      } else {
        offer = o;  // the same offer: the counters follow the server's clock
        shownAt = Date.now();
        tick();
      }
    } else if (offer && !busy) {
      hide("The call is no longer ringing for you.");
    }
  }

  function post(url) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }
    }).then(function (r) {
      var json = (r.headers.get("Content-Type") || "").indexOf("application/json") === 0;
      return (json ? r.json() : Promise.resolve({})).then(function (data) {
        return { ok: r.ok, status: r.status, data: data };
      });
    });
  }
  function failed(answer) {
    if (answer.data && answer.data.error) { return answer.data.error; }
    if (answer.status === 401 || answer.status === 403) {
      return "Not done: you are signed out or may not take calls here.";
    }
    return "Not done: the server refused (error " + answer.status + "). Try again.";
  }
  function accept() {
    if (!offer || busy) { return; }
    busy = true;
    acceptButton.disabled = declineButton.disabled = true;
    message.textContent = "Putting the caller through…";
    stopSound();
    post(offer.accept_url).then(function (answer) {
      if (!answer.ok) { refused(failed(answer)); return; }
      quiet();
      if (document.getElementById("softphone")) {
        // This page's browser phone rings with the call: the page stays, the record opens
        // in another tab.
        offer = null;
        busy = false;
        message.textContent = answer.data.message + " Answer on this page's phone.";
        var link = el("a", { href: answer.data.record_url, target: "_blank", "class": "button" },
          "Open the call record (new tab)");
        message.appendChild(document.createTextNode(" "));
        message.appendChild(link);
        acceptButton.hidden = declineButton.hidden = keys.hidden = true;
        closeButton.hidden = false;
        link.focus();
        return;
      }
      leaving = true;
      message.textContent = answer.data.message + " Opening the record…";
      window.location.assign(answer.data.record_url);
    }).catch(function () {
      busy = false;
      acceptButton.disabled = declineButton.disabled = false;
      message.textContent = "Not done: no answer from the server. Try again.";
    });
  }
  function decline() {
    if (!offer || busy) { return; }
    busy = true;
    acceptButton.disabled = declineButton.disabled = true;
    post(offer.decline_url).then(function (answer) {
      if (!answer.ok) { refused(failed(answer)); return; }
      busy = false;
      hide(answer.data.message || "Declined.");
    }).catch(function () {
      busy = false;
      acceptButton.disabled = declineButton.disabled = false;
      message.textContent = "Not done: no answer from the server. Try again.";
    });
  }
  acceptButton.addEventListener("click", accept);
  declineButton.addEventListener("click", decline);
  closeButton.addEventListener("click", function () { hide(""); });
  banner.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && !closeButton.hidden) { event.preventDefault(); hide(""); }
  });
  document.addEventListener("keydown", function (event) {
    if (!offer || event.defaultPrevented || !event.altKey || !event.shiftKey ||
        event.ctrlKey || event.metaKey) { return; }
    if (event.code === "KeyA") { event.preventDefault(); accept(); }
    if (event.code === "KeyD") { event.preventDefault(); decline(); }
  });

  // --- desktop notifications: asked for only from a click (Home's button) ----------------
  var allow = document.getElementById("allow-notifications");
  if (allow && window.Notification && Notification.permission === "default") {
    var allowBox = allow.closest("[data-notifications]") || allow;
    allowBox.hidden = false;
    allow.addEventListener("click", function () {
      var said = document.getElementById("notifications-state");
      var done = function (answer) {
        allow.hidden = true;
        if (said) {
          said.textContent = answer === "granted"
            ? "Desktop notifications are on: a ringing call shows one."
            : "Desktop notifications stay off (this browser's site settings can change that).";
        }
      };
      var asked = Notification.requestPermission(done);
      if (asked && asked.then) { asked.then(done); }
    });
  }

  // --- what rings: the stream, or polling when the stream is turned away ------------------
  var source = null, pollTimer = null, stopped = false;
  function stop() {
    stopped = true;
    if (source) { source.close(); source = null; }
    clearTimeout(pollTimer);
    hide("");
    missed.hidden = true;
  }
  function poll(until) {
    if (stopped) { return; }
    if (Date.now() > until) { listen(); return; }
    fetch(currentUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        var json = r.ok && !r.redirected &&
          (r.headers.get("Content-Type") || "").indexOf("application/json") === 0;
        if (!json) {
          if (r.status === 401 || r.status === 403 || r.redirected) { stop(); }
          return null;
        }
        return r.json();
      })
      .then(function (state) { if (state) { apply(state); } })
      .catch(function () { /* the connection dropped: the next poll asks again */ })
      .then(function () {
        if (!stopped) { pollTimer = setTimeout(function () { poll(until); }, POLL_MS); }
      });
  }
  function listen() {
    if (stopped) { return; }
    if (!window.EventSource) { poll(Infinity); return; }
    var opened = 0;
    source = new EventSource(eventsUrl);
    source.addEventListener("open", function () { opened = Date.now(); });
    source.addEventListener("offer", function (event) {
      try { apply(JSON.parse(event.data)); } catch (e) { /* a broken event: the next one */ }
    });
    source.onerror = function () {
      var closed = source.readyState === EventSource.CLOSED;
      // A stream that lived its time reconnects by itself; one refused outright, or ended
      // at once (the server had no stream to spare), is replaced by polling for a while.
      if (closed || !opened || Date.now() - opened < SHORT_STREAM_MS) {
        source.close();
        source = null;
        poll(Date.now() + POLL_FOR_MS);
      }
      opened = 0;
    };
  }
  document.addEventListener("helpline:signed-out", stop);
  window.addEventListener("beforeunload", function () { if (source) { source.close(); } });
  listen();
})();
