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
    // Only the hint beside an absolute time ticks; the time itself stays as the server said.
    document.querySelectorAll("[data-since]").forEach(function (el) {
      el.textContent = "(" + elapsed(Date.now() - Number(el.dataset.since)) + ")";
    });
  }
  // Identity of a node for matching old against new: elements with an id or data-key (rows,
  // timeline entries) match by it, so a row added on top does not repurpose the rows below.
  function key(node) {
    return node.nodeType === 1 ? (node.id || node.getAttribute("data-key") || "") : "";
  }
  // Brings `old` up to date with `fresh` in place, touching only what differs: the element
  // that has keyboard focus stays in the page (and focused), and a screen reader hears only
  // what changed in the live region, not the whole region again.
  function morph(old, fresh) {
    if (old.nodeType !== 1) {
      if (old.nodeValue !== fresh.nodeValue) old.nodeValue = fresh.nodeValue;
      return;
    }
    Array.prototype.slice.call(old.attributes).forEach(function (a) {
      if (!fresh.hasAttribute(a.name)) old.removeAttribute(a.name);
    });
    Array.prototype.slice.call(fresh.attributes).forEach(function (a) {
      if (old.getAttribute(a.name) !== a.value) old.setAttribute(a.name, a.value);
    });
    var olds = Array.prototype.slice.call(old.childNodes);
    var byKey = {};
    olds.forEach(function (n) { if (key(n)) byKey[key(n)] = n; });
    var used = new Set(), next = 0;
    Array.prototype.slice.call(fresh.childNodes).forEach(function (n, i) {
      var match = null, k = key(n);
      if (k) {
        match = byKey[k] && byKey[k].nodeName === n.nodeName ? byKey[k] : null;
      } else {
        while (next < olds.length && key(olds[next])) next++;
        if (next < olds.length && olds[next].nodeName === n.nodeName) match = olds[next++];
      }
      if (match && !used.has(match)) {
        morph(match, n);
      } else {
        match = n.cloneNode(true);
      }
      used.add(match);
      if (old.childNodes[i] !== match) old.insertBefore(match, old.childNodes[i] || null);
    });
    olds.forEach(function (n) { if (!used.has(n) && n.parentNode === old) old.removeChild(n); });
  }
  // Forms rendered from an older version of the incident: one nobody has touched is brought
  // up to date (values and version); one being edited keeps the version it was started from,
  // so submitting it is refused with what changed rather than silently undoing it.
  function sync() {
    var state = document.getElementById("live-state");
    if (!state) return;
    document.querySelectorAll("form[data-sync]").forEach(function (form) {
      var selects = form.querySelectorAll("select[data-field]");
      var touched = Array.prototype.some.call(selects, function (s) { return s.value !== s.dataset.shown; }) ||
        Array.prototype.some.call(form.querySelectorAll("input:not([type=hidden]):not([type=checkbox]), textarea"),
          function (i) { return i.value.trim() !== ""; });
      if (touched) return;
      Array.prototype.forEach.call(selects, function (s) {
        var now = state.getAttribute("data-" + s.dataset.field);
        if (now !== null) { s.value = now; s.dataset.shown = now; }
      });
      var version = form.querySelector("input[name=version]");
      if (version) version.value = state.dataset.version;
    });
  }
  var live = document.getElementById("live");
  var pending = false;
  function refresh() {
    if (pending) return;
    pending = true;
    fetch(live.dataset.fragment, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var fresh = live.cloneNode(false);
        fresh.innerHTML = html;
        morph(live, fresh);
        tick();
        sync();
      })
      .finally(function () { pending = false; });
  }
  if (live && window.EventSource) {
    var source = new EventSource(live.dataset.events);
    source.addEventListener("changed", refresh);
    // After a dropped connection, catch up on whatever was missed.
    source.addEventListener("open", function () { if (live.dataset.connected) refresh(); live.dataset.connected = "1"; });
  }
  // A live region's text present at load is not announced by every screen reader: put the
  // server's announcement of what was just done in again, once the page has settled.
  var announce = document.getElementById("announce");
  if (announce && announce.textContent.trim()) {
    var said = announce.textContent;
    announce.textContent = "";
    setTimeout(function () { announce.textContent = said; }, 150);
  }
  tick();
  setInterval(tick, 30000);
})();
