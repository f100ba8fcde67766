// Operator console: local times, copy buttons, confirmations and the
// dashboard's live refresh. No dependencies, no build step.
(function () {
  "use strict";

  // <time datetime="...Z"> holds UTC; show it in this browser's zone.
  function localTimes(root) {
    var fmt = new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
    });
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d)) { return; }
      t.title = t.getAttribute("datetime");
      t.textContent = fmt.format(d);
      t.classList.add("local");
    });
  }

  function copy(text, button) {
    function done() {
      var old = button.textContent;
      button.textContent = "✓";
      button.classList.add("copied");
      setTimeout(function () { button.textContent = old; button.classList.remove("copied"); }, 1200);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallback(text); done(); });
    } else {
      fallback(text);
      done();
    }
  }

  function fallback(text) {
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "absolute";
    ta.style.left = "-9999px";
    document.body.appendChild(ta);
    ta.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing to do */ }
    document.body.removeChild(ta);
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button.copy");
    if (b) {
      ev.preventDefault();
      copy(b.getAttribute("data-copy"), b);
    }
  });

  // Buttons with data-confirm ask first.
  document.addEventListener("submit", function (ev) {
    var b = ev.submitter;
    if (b && b.hasAttribute("data-confirm") && !window.confirm(b.getAttribute("data-confirm"))) {
      ev.preventDefault();
    }
  });

  function refreshDashboard(box) {
    var url = box.getAttribute("data-fragment");
    var stamp = document.getElementById("refreshed");
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) {
          if (r.status === 401) { window.location = "/console/login"; return null; }
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.text();
        })
        .then(function (html) {
          if (html === null) { return; }
          box.innerHTML = html;
          localTimes(box);
          if (stamp) { stamp.textContent = "updated " + new Date().toLocaleTimeString(); stamp.classList.remove("stale"); }
        })
        .catch(function () {
          if (stamp) { stamp.textContent = "refresh failed, retrying"; stamp.classList.add("stale"); }
        });
    }
    setInterval(function () { if (!document.hidden) { tick(); } }, 5000);
    if (stamp) { stamp.textContent = "live, every 5 s"; }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    var tz = document.querySelector(".tz");
    if (tz) { tz.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone; }
    var box = document.getElementById("dashboard");
    if (box) { refreshDashboard(box); }
  });
})();
