// hhu-sync docks page: live cradle state over server-sent events (no library needed).
// The page is complete without this script (rendered on the server, refreshed by a
// <noscript> meta refresh); with it, each event redraws its cradle's card in place.
"use strict";

(function () {
  const board = document.getElementById("docks");
  if (!board) { return; }
  // Without a live stream the page refreshes itself every 5 s, as it does without
  // scripts (the <noscript> refresh): a browser without EventSource, or a stream the
  // server closed (the session ended), still shows the cradles as they are.
  function refreshSoon() { window.setTimeout(function () { window.location.reload(); }, 5000); }
  if (!window.EventSource) { refreshSoon(); return; }

  function text(tag, cls, value) {
    const el = document.createElement(tag);
    if (cls) { el.className = cls; }
    el.textContent = value;          // textContent: whatever a value holds stays text
    return el;
  }

  function bytes(n) {
    if (n >= 1048576) { return (n / 1048576).toFixed(1) + " MiB"; }
    if (n >= 1024) { return (n / 1024).toFixed(1) + " KiB"; }
    return n + " B";
  }

  function card(c) {
    const el = document.createElement("section");
    el.className = "cradle phase-" + c.phase + (c.safe_to_remove ? " safe" : "");
    el.dataset.dock = c.dock;
    el.appendChild(text("h2", "", c.dock));
    el.appendChild(text("p", "phase", c.phase));
    if (c.hhu_id) {
      const who = [c.hhu_id];
      if (c.crew) { who.push(c.crew); }
      if (c.battery_pct !== null) { who.push("battery " + c.battery_pct + "%"); }
      if (c.free_flash !== null) { who.push(bytes(c.free_flash) + " free"); }
      el.appendChild(text("p", "hhu", who.join(" · ")));
    } else {
      el.appendChild(text("p", "hhu", "no HHU"));
    }
    for (const t of c.transfers) {
      const row = document.createElement("div");
      row.className = "transfer";
      row.appendChild(text("span", "what", (t.direction === "up" ? "↑ " : "↓ ") + t.object_id));
      const bar = document.createElement("progress");
      bar.max = t.total || 1;
      bar.value = t.done;
      row.appendChild(bar);
      let detail = bytes(t.done) + " / " + bytes(t.total);
      if (t.rate > 0 && t.done < t.total) {
        detail += " · " + bytes(Math.round(t.rate)) + "/s";
        if (t.seconds_left !== null) { detail += " · " + Math.ceil(t.seconds_left) + " s left"; }
      }
      row.appendChild(text("span", "detail", detail));
      el.appendChild(row);
    }
    if (c.hhu_id && c.safe_to_remove) {
      el.appendChild(text("p", "remove", "Safe to remove"));
    } else if (c.hhu_id) {
      el.appendChild(text("p", "busy", "Do not remove"));
    }
    for (const e of c.errors) { el.appendChild(text("p", "error", e)); }
    return el;
  }

  function draw(c) {
    const old = board.querySelector('section[data-dock="' + CSS.escape(c.dock) + '"]');
    const fresh = card(c);
    if (old) { board.replaceChild(fresh, old); } else { board.appendChild(fresh); }
  }

  const source = new EventSource("/api/docks/events");
  source.addEventListener("cradle", function (ev) { draw(JSON.parse(ev.data)); });
  source.addEventListener("snapshot", function (ev) {
    for (const c of JSON.parse(ev.data)) { draw(c); }
  });
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) { refreshSoon(); }   // else it reconnects
  });
  document.documentElement.dataset.live = "yes";
})();
