// The browser phone: a thin client of /phone/call, /phone/step and /phone/poll. The server plays
// the call (the TwiML interpreter); this page shows and speaks what it says and sends what the
// caller does. The call's state is an opaque, signed string the server hands back each time.
(function () {
  "use strict";
  var root = document.getElementById("phone");
  if (!root) { return; }
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";
  var $ = function (id) { return document.getElementById(id); };
  var startForm = $("phone-start"), speechForm = $("phone-speech"), words = $("phone-words");
  var status = $("phone-status"), prompt = $("phone-prompt"), log = $("phone-log");
  var keys = root.querySelectorAll("[data-key]");
  var state = null, accepts = [], queue = Promise.resolve(), timer = null, poller = null;
  var polling = false;

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.redirected || type.indexOf("application/json") === -1) {
        throw new Error("The page expired or you were signed out. Reload the page.");
      }
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || "The phone could not do that."); }
        return data;
      });
    });
  }

  function showError(error) {
    status.textContent = error.message;
    status.classList.add("error");
    status.setAttribute("role", "alert");
  }

  // One request at a time, in the order the caller acted.
  function send(action, value, passive) {
    queue = queue.then(function () {
      if (!state) { return null; }
      var url = root.getAttribute(passive ? "data-poll-url" : "data-step-url");
      return post(url, { state: state, action: action, value: value || "" }).then(render);
    }).catch(showError);
    return queue;
  }

  function addLog(event) {
    var item = document.createElement("li");
    item.className = "log-" + event.kind;
    item.textContent = event.kind === "say" ? "“" + event.text + "” (" + event.language + ")" : event.text;
    if (event.language) { item.lang = event.language; }
    log.appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function speak(said) {
    if (!$("phone-speak").checked || !window.speechSynthesis) { return; }
    window.speechSynthesis.cancel();
    said.forEach(function (event) {
      var utterance = new SpeechSynthesisUtterance(event.text);
      utterance.lang = event.language;
      window.speechSynthesis.speak(utterance);
    });
  }

  function schedule(data, said) {
    clearTimeout(timer);
    clearInterval(poller);
    if (!state) { return; }
    if (accepts.indexOf("poll") !== -1) {
      poller = setInterval(function () {
        if (polling) { return; }
        polling = true;
        send("poll", "", true).then(function () { polling = false; });
      }, 2000);
    }
    if (data.timeout > 0 && accepts.indexOf("timeout") !== -1 && $("phone-auto").checked) {
      // Twilio's timeout starts when the prompts end: allow time to hear them.
      var chars = said.reduce(function (n, e) { return n + e.text.length; }, 0);
      timer = setTimeout(function () { send("timeout", "", true); },
                         (data.timeout + chars / 14) * 1000);
    }
  }

  function controls() {
    var inCall = !!state;
    keys.forEach(function (button) { button.disabled = !inCall; });
    words.disabled = $("phone-say").disabled = accepts.indexOf("speech") === -1;
    $("phone-silence").disabled = accepts.indexOf("timeout") === -1;
    $("phone-hangup").disabled = !inCall;
    $("phone-call").disabled = inCall;
  }

  function render(data) {
    state = data.ended ? null : data.state;
    accepts = data.ended ? [] : data.accepts;
    root.setAttribute("data-mode", data.mode);
    root.setAttribute("data-call-sid", data.call_sid);
    $("phone-sid").textContent = "Call " + data.call_sid + ".";
    status.textContent = data.status;
    status.classList.remove("error");
    status.setAttribute("role", "status");
    var said = [];
    data.events.forEach(function (event) {
      addLog(event);
      if (event.kind === "say") { said.push(event); }
    });
    if (said.length) {
      prompt.textContent = "";
      said.forEach(function (event) {
        var line = document.createElement("p");
        line.lang = event.language;
        line.textContent = event.text;
        prompt.appendChild(line);
      });
      speak(said);
    }
    controls();
    schedule(data, said);
  }

  function press(key) {
    if (!state) { return; }
    keys.forEach(function (button) {
      if (button.getAttribute("data-key") === key) {
        button.classList.add("pressed");
        setTimeout(function () { button.classList.remove("pressed"); }, 200);
      }
    });
    addLog({ kind: "note", text: "You pressed " + key + ".", language: "" });
    if (window.speechSynthesis) { window.speechSynthesis.cancel(); }
    send("keys", key, false);
  }

  startForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (state) { return; }
    log.textContent = "";
    prompt.textContent = "";
    status.textContent = "Calling…";
    $("phone-call").disabled = true;
    var data = new FormData(startForm);
    queue = queue.then(function () {
      return post(root.getAttribute("data-call-url"), {
        from: data.get("from"), lang: data.get("lang"), flow_version: data.get("flow_version")
      }).then(render);
    }).catch(function (error) { showError(error); controls(); });
  });

  keys.forEach(function (button) {
    button.addEventListener("click", function () { press(button.getAttribute("data-key")); });
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.ctrlKey || event.altKey || event.metaKey) { return; }
    if (target && target.matches && target.matches("input, textarea, select")) { return; }
    if (/^[0-9*#]$/.test(event.key) && state) {
      event.preventDefault();
      press(event.key);
    }
  });

  speechForm.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = words.value.trim();
    if (!text || !state) { return; }
    addLog({ kind: "note", text: "You said: " + text, language: "" });
    words.value = "";
    send("speech", text, false);
  });

  $("phone-silence").addEventListener("click", function () { send("timeout", "", false); });
  $("phone-hangup").addEventListener("click", function () { send("hangup", "", false); });
  $("phone-auto").addEventListener("change", function () { schedule({ timeout: 0 }, []); });

  // Closing the tab hangs up, so the call does not wait in a queue forever.
  window.addEventListener("pagehide", function () {
    if (!state || !navigator.sendBeacon) { return; }
    var form = new FormData();
    form.append("csrf_token", csrf);
    form.append("state", state);
    form.append("action", "hangup");
    navigator.sendBeacon(root.getAttribute("data-step-url"), form);
  });
})();
