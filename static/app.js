// aplomb's only script: live updates and elapsed times. Every action works without it.
(function () {
  "use strict";
  function elapsed(ms) {
    var m = Math.max(0, Math.floor(ms / 60000));
    if (m < 1) return "just now";
    if (m < 60) return m + " min ago";
    var h = Math.floor(m / 60);
    if (h < 48) return h + " h " + (m % 60) + " min ago";
    return Math.floor(h / 24) + " days ago";
  }
  function tick() {
    document.querySelectorAll("[data-since]").forEach(function (el) {
      if (!el.title) el.title = el.textContent;
      el.textContent = elapsed(Date.now() - Number(el.dataset.since));
    });
  }
  var live = document.getElementById("live");
  var pending = false;
  function refresh() {
    if (pending) return;
    pending = true;
    fetch(live.dataset.fragment, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { live.innerHTML = html; tick(); } })
      .finally(function () { pending = false; });
  }
  if (live && window.EventSource) {
    var source = new EventSource(live.dataset.events);
    source.addEventListener("changed", refresh);
    // After a dropped connection, catch up on whatever was missed.
    source.addEventListener("open", function () { if (live.dataset.connected) refresh(); live.dataset.connected = "1"; });
  }
  tick();
  setInterval(tick, 30000);
})();
