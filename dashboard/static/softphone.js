// The browser phone: Twilio's Voice SDK (vendor/twilio.min.js) registers this staff member's
// browser so that their calls ring on this page. Shows an incoming call with Answer and
// Decline, then connected or ended; a keypad sends tones (a follow-up call back asks for 1).
// The access token lives a few minutes: a new one is asked for before it expires, and when
// the dashboard refuses (signed out), the phone stops. Only on pages with #softphone.
(function () {
  "use strict";
  var box = document.getElementById("softphone");
  if (!box) { return; }
  var meta = document.querySelector('meta[name="csrf-token"]');
  var stateEl = document.getElementById("softphone-state");
  var heading = document.getElementById("softphone-h");
  var incomingEl = document.getElementById("softphone-incoming");
  var liveEl = document.getElementById("softphone-live");
  var answerButton = document.getElementById("softphone-answer");
  var declineButton = document.getElementById("softphone-decline");
  var hangupButton = document.getElementById("softphone-hangup");
  var muteButton = document.getElementById("softphone-mute");
  var pageTitle = document.title;
  var device = null, current = null, activeTimer = null, stopWhenIdle = null;

  // The SDK would fetch these from sdk.twilio.com; the dashboard serves its own.
  var base = box.getAttribute("data-sound-base");
  var sounds = { incoming: base + "incoming.wav", outgoing: base + "outgoing.wav",
                 disconnect: base + "disconnect.wav", dtmfs: base + "dtmf-star.wav",
                 dtmfh: base + "dtmf-hash.wav" };
  for (var digit = 0; digit <= 9; digit++) { sounds["dtmf" + digit] = base + "dtmf-" + digit + ".wav"; }

  function say(text) { stateEl.textContent = text; }

  function show(part) {
    incomingEl.hidden = part !== "incoming";
    liveEl.hidden = part !== "live";
  }

  function token() {
    return fetch(box.getAttribute("data-token-url"), {
      method: "POST", credentials: "same-origin", redirect: "manual",
      headers: { "X-CSRF-Token": meta ? meta.content : "", "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) { throw new Error(response.status === 409 ? "phone" : "signed-out"); }
      return response.json();
    }).then(function (data) { return data.token; });
  }

  function stop(error) {
    var why = error && error.message;
    var text = why === "phone" ? "Off: your calls ring your phone (see My account)."
      : why === "signed-out" ? "Off: sign in again to take calls here."
      : "Off: the dashboard could not be reached. Reload the page.";
    if (current) { stopWhenIdle = error; return; }  // a live call keeps going
    if (device) { device.destroy(); device = null; }
    show("none");
    say(text);
  }

  // A call in progress is work: the idle sign-out must not end it (app.js listens).
  function stillHere() { document.dispatchEvent(new CustomEvent("helpline:active")); }

  function ended(text) {
    if (!current) { return; }
    current = null;
    clearInterval(activeTimer);
    activeTimer = null;
    document.title = pageTitle;
    show("none");
    muteButton.setAttribute("aria-pressed", "false");
    muteButton.textContent = "Mute";
    heading.focus();
    if (stopWhenIdle) {
      var pending = stopWhenIdle;
      stopWhenIdle = null;
      stop(pending);
      return;
    }
    say(text + " Calls ring here.");
  }

  function connected() {
    show("live");
    say("Connected");
    document.title = "On a call · " + pageTitle;
    hangupButton.focus();
    stillHere();
    activeTimer = setInterval(stillHere, 60000);
  }

  function callProblem(error) {
    var code = error && error.code;
    if (code === 31208 || code === 31401 || code === 31402) {
      say("The call could not be answered: the microphone is blocked or missing. Allow it " +
          "for this site (in the address bar) before the next call.");
    } else {
      say("Call problem (Twilio error " + (code || "unknown") + ").");
    }
  }

  function ring(call) {
    if (current) { call.reject(); return; }  // one call at a time
    current = call;
    show("incoming");
    say("Incoming call");
    document.title = "Incoming call · " + pageTitle;
    answerButton.focus();
    call.on("accept", connected);
    call.on("cancel", function () { ended("Missed: the call stopped ringing."); });
    call.on("reject", function () { ended("Declined."); });
    call.on("disconnect", function () { ended("Call ended."); });
    call.on("error", callProblem);
  }

  answerButton.addEventListener("click", function () {
    if (current) { say("Connecting the call…"); current.accept(); }
  });
  declineButton.addEventListener("click", function () { if (current) { current.reject(); } });
  hangupButton.addEventListener("click", function () { if (current) { current.disconnect(); } });
  muteButton.addEventListener("click", function () {
    if (!current) { return; }
    var muted = !current.isMuted();
    current.mute(muted);
    muteButton.setAttribute("aria-pressed", muted ? "true" : "false");
    muteButton.textContent = muted ? "Unmute" : "Mute";
  });
  liveEl.addEventListener("click", function (event) {
    var key = event.target.getAttribute && event.target.getAttribute("data-digit");
    if (key && current) { current.sendDigits(key); }
  });

  function start() {
    if (!window.Twilio || !window.Twilio.Device) {
      say("Off: the phone software did not load. Reload the page.");
      return;
    }
    say("Connecting…");
    token().then(function (jwt) {
      try {
        device = new window.Twilio.Device(jwt, {
          appName: "helpline-dashboard",
          closeProtection: "A call is in progress on this page: leaving it ends the call.",
          codecPreferences: ["opus", "pcmu"],
          logLevel: "warn",
          sounds: sounds
        });
      } catch (error) {
        say("Off: this browser cannot take calls (" + (error.name || "error") + ").");
        return;
      }
      device.on("registered", function () { if (!current) { say("Ready: calls ring here."); } });
      device.on("unregistered", function () { if (!current && device) { say("Not connected: calls cannot ring here."); } });
      device.on("error", function (error) {
        if (!current) {
          say("Phone problem (Twilio error " + (error && error.code || "unknown") +
              "): calls may not ring here. It keeps trying; reload the page if this lasts.");
        }
      });
      device.on("incoming", ring);
      device.on("tokenWillExpire", function () {
        token().then(function (jwt) { if (device) { device.updateToken(jwt); } }, stop);
      });
      device.register().catch(function () { /* reported through the error event */ });
    }, stop);
  }

  window.addEventListener("beforeunload", function () {
    if (device && !current) { device.destroy(); }
  });
  start();
})();
