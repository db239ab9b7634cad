// aplomb's only script: live updates, elapsed times and the wording checks as people write. Every
// action works without it.
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
    // A countdown to a due time: "in 12 min", then "overdue by 3 min" once it has passed.
    document.querySelectorAll("[data-until]").forEach(function (el) {
      var left = Number(el.dataset.until) - Date.now();
      var m = Math.floor(Math.abs(left) / 60000);
      el.textContent = "(" + (left > 0 ? "in " : "overdue by ") + m + " min)";
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
    // A form someone is writing in (the update composer) is theirs until they send it.
    if (old.hasAttribute("data-keep")) return;
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
  // New timeline entries from a live update go at the end of the list, so a long incident's
  // page never refetches what it shows; after a gap the list starts over from the latest.
  function append(list, added) {
    if (added.dataset.gap) {
      while (list.firstChild) list.removeChild(list.firstChild);
      var earlier = document.getElementById("timeline-earlier");
      if (earlier && added.dataset.earlier) { earlier.href = added.dataset.earlier; earlier.hidden = false; }
    }
    var last = Number(list.dataset.after || 0);
    Array.prototype.slice.call(added.children).forEach(function (entry) {
      if (added.dataset.gap || Number(entry.dataset.entry) > last) list.appendChild(entry);
    });
    list.dataset.after = added.dataset.after;
  }
  var live = document.getElementById("live");
  var pending = false, again = false;
  function refresh() {
    // A change announced while a refresh is on its way is fetched right after it.
    if (pending) { again = true; return; }
    pending = true;
    var list = document.getElementById("timeline");
    var following = list && list.dataset.after !== undefined;
    var url = live.dataset.fragment + (following ? "?after=" + list.dataset.after : "");
    fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var fresh = live.cloneNode(false);
        fresh.innerHTML = html;
        var added = fresh.querySelector("#timeline-new");
        if (added) added.parentNode.removeChild(added);
        morph(live, fresh);
        if (added && following) append(list, added);
        tick();
        sync();
      })
      .finally(function () {
        pending = false;
        if (again) { again = false; refresh(); }
      });
  }
  if (live && window.EventSource) {
    var source = null;
    var connect = function () {
      source = new EventSource(live.dataset.events);
      source.addEventListener("changed", refresh);
      // After a dropped connection, catch up on whatever was missed.
      source.addEventListener("open", function () { if (live.dataset.connected) refresh(); live.dataset.connected = "1"; });
    };
    connect();
    // A page left for another keeps no stream open: a browser holds few connections per
    // server, and pages kept for the back button would use them all up after a few actions.
    window.addEventListener("pagehide", function () { if (source) { source.close(); source = null; } });
    // Back on a kept page: the new stream's "open" catches up on what was missed meanwhile.
    window.addEventListener("pageshow", function (e) { if (e.persisted && !source) connect(); });
  }
  // A live region's text present at load is not announced by every screen reader: put the
  // server's announcement of what was just done in again, once the page has settled.
  var announce = document.getElementById("announce");
  if (announce && announce.textContent.trim()) {
    var said = announce.textContent;
    announce.textContent = "";
    setTimeout(function () { announce.textContent = said; }, 150);
  }
  // A wording check as the person writes (the composer's tone check, the review editor's
  // blameless check): a form with data-check posts itself there and shows the answer in the
  // element data-check-into names; an answer about older words than the last asked for is
  // dropped.
  document.querySelectorAll("form[data-check]").forEach(function (form) {
    var out = document.getElementById(form.dataset.checkInto);
    if (!out || !window.fetch) return;
    var timer = null, asked = 0;
    var check = function () {
      var mine = ++asked;
      fetch(form.dataset.check, {
        method: "POST",
        credentials: "same-origin",
        body: new URLSearchParams(new FormData(form))
      })
        // A signed-out session is redirected to sign in: nothing to show here then.
        .then(function (r) { return (r.ok || r.status === 422) && !r.redirected ? r.text() : null; })
        .then(function (html) { if (html !== null && mine === asked) out.innerHTML = html; })
        .catch(function () {});
    };
    var soon = function () { clearTimeout(timer); timer = setTimeout(check, 400); };
    form.addEventListener("input", soon);
    form.addEventListener("change", soon);
    check();
  });
  tick();
  setInterval(tick, 30000);
})();
