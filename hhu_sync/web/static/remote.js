// hhu-sync remote runs pages: the runs and a run's meters kept current from server-sent
// events (data-events: the server reads the run from the database every 2 s and sends it
// when it changed, whichever depot read the meter). The pages are complete without this
// script (rendered on the server; a <noscript> refresh). Values are set with
// textContent: whatever they hold stays text.
"use strict";

(function () {
  const table = document.getElementById("remote-run") || document.getElementById("remote-runs");
  if (!table || !window.fetch) { return; }
  const body = table.querySelector("tbody");
  const poll = Math.max(1, parseFloat(table.dataset.poll) || 2) * 1000;

  function cell(row, value, cls) {
    const td = document.createElement("td");
    if (cls) { td.className = cls; }
    if (value instanceof Node) { td.appendChild(value); } else { td.textContent = value; }
    row.appendChild(td);
    return td;
  }

  function link(href, value) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = value;
    return a;
  }

  function span(cls, value) {
    const s = document.createElement("span");
    s.className = cls;
    s.textContent = value;
    return s;
  }

  function runRow(r) {
    const row = document.createElement("tr");
    row.dataset.run = r.delivery_id;
    cell(row, link("/remote/runs/" + r.delivery_id, String(r.delivery_id)));
    const list = document.createElement("span");
    list.appendChild(link("/lists/" + encodeURIComponent(r.list_id), r.list_id));
    if (r.name && r.name !== r.list_id) { list.appendChild(document.createTextNode(" · " + r.name)); }
    cell(row, list);
    cell(row, span("state state-" + r.state, r.state));
    cell(row, r.queued_at);
    cell(row, r.started_at || "");
    cell(row, r.runner || "");
    cell(row, r.settled + " / " + r.total, "done");
    cell(row, String(r.claimed));
    cell(row, r.readers.join(", "));
    return row;
  }

  function meterRow(m) {
    const row = document.createElement("tr");
    row.dataset.seq = m.seq;
    cell(row, String(m.seq + 1));
    const who = document.createElement("span");
    who.textContent = m.serial;
    if (m.site) { who.appendChild(document.createElement("br")); who.appendChild(span("note", m.site)); }
    cell(row, who);
    cell(row, m.port + (m.device_address ? " · " + m.device_address : ""));
    cell(row, m.state + (m.takeovers ? " (taken over)" : ""), "meter-state");
    cell(row, m.outcome ? span("outcome outcome-" + m.outcome, m.outcome) : "", "meter-outcome");
    cell(row, m.attempts ? String(m.attempts) : "");
    cell(row, m.runner || "");
    cell(row, m.finished_at || "");
    cell(row, m.notes ? span("visit-note", m.notes) : "");
    return row;
  }

  function facts(run) {
    const set = function (name, value) {
      const el = document.querySelector('[data-fact="' + name + '"]');
      if (el) { el.textContent = value; }
    };
    set("state", run.state);
    const state = document.querySelector('[data-fact="state"]');
    if (state) { state.className = "state state-" + run.state; }
    set("started_at", run.started_at || "");
    set("runner", run.runner || "");
    set("done", run.settled + " / " + run.total);
    set("readers", run.readers.join(", "));
  }

  function draw(data) {
    const rows = table.id === "remote-run" ? data.meters.map(meterRow) : data.runs.map(runRow);
    body.replaceChildren.apply(body, rows);
    if (table.id === "remote-run") { facts(data); }
    table.dataset.live = table.id === "remote-runs" || data.live ? "yes" : "no";
  }

  // Without a stream (no EventSource, or one the server closed: the session ended) the
  // page asks its JSON every data-poll seconds instead.
  function ask() {
    fetch(table.dataset.api, {credentials: "same-origin", headers: {"accept": "application/json"}})
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return null; }   // to the login
        return r.ok ? r.json() : null;
      })
      .then(function (data) { if (data) { draw(data); } })
      .catch(function () { /* the server is away: asked again at the next turn */ })
      .finally(function () {
        if (table.dataset.live !== "no") { window.setTimeout(ask, poll); }
      });
  }

  if (table.id === "remote-run" && table.dataset.live === "no") { return; }   // it has ended
  if (!window.EventSource || !table.dataset.events) { window.setTimeout(ask, poll); return; }
  const source = new EventSource(table.dataset.events);
  function heard(ev) {
    const data = JSON.parse(ev.data);
    draw(data);
    if (table.dataset.live === "no") { source.close(); }      // the run has ended
  }
  source.addEventListener("run", heard);
  source.addEventListener("runs", heard);
  source.addEventListener("error", function () {
    if (source.readyState === EventSource.CLOSED) { window.setTimeout(ask, poll); }  // else it reconnects
  });
}());
