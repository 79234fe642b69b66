// The record's call bar: asks the call's state every second (the caller's hang-up shows at
// once), counts the talk time, and posts its buttons with fetch (JSON back). Without this
// script the forms post and the page comes back with a message.
(function () {
  "use strict";
  var bar = document.getElementById("call-bar");
  if (!bar) { return; }
  var stateUrl = bar.getAttribute("data-state-url");
  var label = document.getElementById("call-bar-label");
  var timer = document.getElementById("call-bar-timer");
  var extra = document.getElementById("call-bar-extra");
  var controls = document.getElementById("call-bar-controls");
  var message = document.getElementById("call-bar-message");
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";
  var seconds = parseInt(bar.getAttribute("data-seconds"), 10) || 0;
  var state = bar.getAttribute("data-state");
  var busy = false;
  var MODES = { listen: "listening", coach: "coaching you", barge: "on the call" };

  function clock(s) {
    var m = Math.floor(s / 60), r = s % 60;
    return m + ":" + (r < 10 ? "0" : "") + r;
  }

  function show(form, visible) { if (form) { form.hidden = !visible; } }
  function form(action) { return bar.querySelector('[data-call-action="' + action + '"]'); }

  function apply(data) {
    var was = state;
    state = data.state;
    bar.setAttribute("data-state", state);
    label.textContent = data.label;
    seconds = data.seconds;
    timer.textContent = clock(seconds);
    var words = [];
    if (data.transfer) { words.push("Transfer to " + data.transfer.to + " waiting: talk, then complete it."); }
    (data.supervisors || []).forEach(function (s) { words.push(s.name + " is " + (MODES[s.mode] || "on the call") + "."); });
    extra.textContent = words.join(" ");
    controls.hidden = !data.controls;
    show(form("hold"), state === "connected");
    show(form("resume"), state === "on_hold");
    show(form("transfer-complete"), !!data.transfer);
    show(form("transfer-cancel"), !!data.transfer);
    var transfer = document.getElementById("call-transfer");
    if (transfer) { transfer.hidden = !!data.transfer; }
    if (state === "ended" && was !== "ended") {
      var call = document.getElementById("call-state");
      if (call) { call.textContent = "Call ended: finish the record and wrap up"; }
    }
  }

  // The record went with the call to a colleague: nothing here to control any more.
  function gone() {
    state = "gone";
    bar.setAttribute("data-state", "ended");
    controls.hidden = true;
    label.textContent = "The call and this record are with your colleague now";
  }

  function refresh() {
    if (state === "gone") { return; }
    if (busy) { return; }
    busy = true;
    fetch(stateUrl, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 404 || r.status === 403) { gone(); return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (data) { if (data) { apply(data); } })
      .catch(function () { /* the next second tries again */ })
      .then(function () { busy = false; });
  }

  bar.addEventListener("submit", function (event) {
    var target = event.target;
    if (!target.hasAttribute("data-call-action")) { return; }
    event.preventDefault();
    message.textContent = "";
    var buttons = target.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(target.action, {
      method: "POST", body: new FormData(target), credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (data) { return { ok: r.ok, data: data }; });
    }).then(function (answer) {
      message.textContent = answer.ok ? answer.data.message : "Not done: " + answer.data.error + ".";
      message.className = "call-bar-message" + (answer.ok ? "" : " error");
      var details = target.closest("details");
      if (answer.ok && details) { details.open = false; }
      refresh();
    }).catch(function () {
      message.textContent = "Not done: the server could not be reached. Try again.";
      message.className = "call-bar-message error";
    }).then(function () { buttons.forEach(function (b) { b.disabled = false; }); });
  });

  setInterval(function () {
    if (state === "connected" || state === "on_hold") { seconds += 1; timer.textContent = clock(seconds); }
  }, 1000);
  setInterval(refresh, 1000);
}());
