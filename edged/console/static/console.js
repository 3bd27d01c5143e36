"use strict";
const CSRF = document.querySelector('meta[name="csrf-token"]').content;
const PAGE = document.body.dataset.page;

async function api(path, body) {
  const init = {credentials: "same-origin"};
  if (body !== undefined) {
    init.method = "POST";
    init.headers = {"Content-Type": "application/json", "X-CSRF-Token": CSRF};
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (r.status === 401) { window.location = "/login"; throw new Error("logged out"); }
  const data = await r.json().catch(() => ({error: r.statusText}));
  if (!r.ok) { const e = new Error(data.error || r.statusText); e.data = data; throw e; }
  return data;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  row.appendChild(td);
  return td;
}

function clock(seconds) { return new Date(seconds * 1000).toLocaleTimeString(); }
function fixed(x, n) { return typeof x === "number" ? x.toFixed(n) : ""; }

document.getElementById("logout").addEventListener("click", async () => {
  await api("/api/logout", {}).catch(() => null);
  window.location = "/login";
});
const nav = document.getElementById("nav-" + PAGE);
if (nav) nav.classList.add("here");

// ---- Live ----------------------------------------------------------------------------------------
function live() {
  const img = document.getElementById("live-image");
  const status = document.getElementById("live-status");
  const tbody = document.getElementById("live-tracks");
  let period = 500;
  async function refresh() {
    try {
      const s = await api("/api/live/state");
      img.src = "/api/live.jpg?frame=" + s.frame;
      status.textContent = `frame ${s.frame}, ${s.tracks.length} face box${s.tracks.length === 1 ? "" : "es"}` +
        (s.thermal ? ", thermal registered on top" : "");
      status.dataset.boxes = String(s.tracks.length);
      tbody.replaceChildren();
      for (const t of s.tracks) {
        const tr = document.createElement("tr");
        tr.className = "track";
        cell(tr, "#" + t.track_id); cell(tr, t.box.map((v) => v.toFixed(0)).join(", "));
        cell(tr, t.decision || "undecided"); cell(tr, t.person_id); cell(tr, fixed(t.similarity, 2)); cell(tr, t.mask);
        tbody.appendChild(tr);
      }
    } catch (e) { status.textContent = e.message; }
    setTimeout(refresh, period);
  }
  refresh();
}

// ---- Passages ------------------------------------------------------------------------------------
function passageRow(p) {
  const tr = document.createElement("tr");
  tr.className = "passage " + (p.decision || "");
  tr.dataset.seq = String(p.seq);
  tr.dataset.person = p.person_id || "";
  tr.dataset.decision = p.decision || "";
  const when = cell(tr, clock(p.at));
  if (p.face_jpeg_b64) {
    const img = document.createElement("img");
    img.className = "face"; img.alt = "face"; img.src = "data:image/jpeg;base64," + p.face_jpeg_b64;
    when.appendChild(img);
  }
  cell(tr, p.kind.replace("passage.", "")); cell(tr, p.person_id || "stranger");
  const why = {"passage.passed": "walked through", "passage.timeout": "did not pass in time"}[p.kind];
  cell(tr, p.decision); cell(tr, why || (p.reasons || []).join(", ") || "all checks passed");
  cell(tr, fixed(p.similarity, 2)); cell(tr, fixed(p.liveness, 2)); cell(tr, p.mask_state);
  cell(tr, fixed(p.temperature_c, 1)); cell(tr, typeof p.latency_ms === "number" ? p.latency_ms.toFixed(0) + " ms" : "");
  cell(tr, p.gate);
  return tr;
}

async function passages() {
  const tbody = document.getElementById("passages");
  const state = document.getElementById("stream-state");
  let last = 0;
  const first = await api("/api/passages");
  for (const p of first.passages) { tbody.prepend(passageRow(p)); last = p.seq; }
  const source = new EventSource("/api/passages/stream?after=" + last);
  source.onopen = () => { state.textContent = "live"; state.dataset.live = "1"; };
  source.onerror = () => { state.textContent = "reconnecting…"; state.dataset.live = "0"; };
  source.onmessage = (m) => {
    const p = JSON.parse(m.data);
    const row = passageRow(p);
    row.classList.add("new");
    tbody.prepend(row);
    while (tbody.children.length > 200) tbody.lastChild.remove();
  };
}

// ---- People --------------------------------------------------------------------------------------
function pictureFeedback(pic) {
  const li = document.createElement("li");
  li.className = pic.ok ? "ok" : "refused";
  const q = [];
  if (pic.face_px !== undefined) q.push(`${pic.face_px.toFixed(0)} px`);
  if (pic.sharpness !== undefined) q.push(`sharpness ${pic.sharpness.toFixed(0)}`);
  if (pic.yaw_deg !== undefined) q.push(`yaw ${pic.yaw_deg.toFixed(0)}°`);
  if (pic.liveness !== undefined) q.push(`liveness ${pic.liveness.toFixed(2)}`);
  li.textContent = `${pic.photo}: ${pic.ok ? "kept" : "refused"}` + (q.length ? ` (${q.join(", ")})` : "") +
    (pic.reasons.length ? ": " + pic.reasons.join(", ") : "");
  document.getElementById("picture-feedback").prepend(li);
}

async function loadPeople() {
  const data = await api("/api/people");
  document.getElementById("picture-count").textContent = String(data.pictures);
  const tbody = document.getElementById("people");
  tbody.replaceChildren();
  for (const p of data.people) {
    const tr = document.createElement("tr");
    tr.dataset.person = p.person_id;
    cell(tr, p.person_id); cell(tr, p.name); cell(tr, p.templates); cell(tr, (p.groups || []).join(", "));
    cell(tr, p.consent_source);
    const b = document.createElement("button");
    b.type = "button"; b.textContent = "Erase"; b.className = "erase";
    b.addEventListener("click", async () => {
      if (!window.confirm(`Erase ${p.person_id} and all their templates?`)) return;
      const out = document.getElementById("erase-receipt");
      try {
        const r = await api("/api/people/erase", {person_id: p.person_id});
        out.textContent = "Erasure receipt\n" + JSON.stringify(r.receipt, null, 2);
      } catch (e) { out.textContent = e.message; }
      loadPeople();
    });
    cell(tr, "").appendChild(b);
    tbody.appendChild(tr);
  }
}

async function addPicture(body) {
  const result = document.getElementById("enrol-result");
  try {
    const r = await api("/api/people/picture", body);
    pictureFeedback(r.picture);
    document.getElementById("picture-count").textContent = String(r.pictures);
    result.textContent = "";
  } catch (e) { result.textContent = e.message; }
}

function people() {
  document.getElementById("take-picture").addEventListener("click", () => addPicture({source: "camera"}));
  document.getElementById("upload-photo").addEventListener("change", (ev) => {
    const file = ev.target.files[0];
    if (!file) return;
    const reader = new FileReader();
    reader.onload = () => addPicture({photo_b64: String(reader.result).split(",")[1]});
    reader.readAsDataURL(file);
    ev.target.value = "";
  });
  document.getElementById("clear-pictures").addEventListener("click", async () => {
    await api("/api/people/pictures/clear", {});
    document.getElementById("picture-feedback").replaceChildren();
    loadPeople();
  });
  document.getElementById("enrol").addEventListener("click", async () => {
    const result = document.getElementById("enrol-result");
    result.textContent = "enrolling…";
    try {
      const r = await api("/api/people/enrol", {
        person_id: document.getElementById("enrol-id").value,
        name: document.getElementById("enrol-name").value,
      });
      result.textContent = `enrolled ${r.person.person_id} with ${r.templates} templates`;
      document.getElementById("picture-feedback").replaceChildren();
    } catch (e) { result.textContent = "not enrolled: " + e.message; }
    loadPeople();
  });
  loadPeople();
  const img = document.getElementById("camera-image");
  const line = document.getElementById("camera-face");
  async function camera() {
    try {
      const s = await api("/api/live/state");
      img.src = "/api/live.jpg?frame=" + s.frame;
      const widths = s.tracks.map((t) => t.box[2] - t.box[0]);
      const widest = widths.length ? Math.max(...widths) : 0;
      const t = s.tracks[widths.indexOf(widest)];
      line.dataset.width = widest.toFixed(0);
      line.dataset.decision = t ? (t.decision || "") : "";
      line.textContent = t ? `face ${widest.toFixed(0)} px wide` + (t.person_id ? ` (${t.person_id})` : "") : "no face in view";
    } catch (e) { line.textContent = e.message; }
    setTimeout(camera, 300);
  }
  camera();
}

// ---- Health --------------------------------------------------------------------------------------
function card(title, rows) {
  const div = document.createElement("div");
  div.className = "card";
  const h = document.createElement("h2");
  h.textContent = title;
  div.appendChild(h);
  const dl = document.createElement("dl");
  for (const [k, v] of rows) {
    const dt = document.createElement("dt"); dt.textContent = k;
    const dd = document.createElement("dd"); dd.textContent = typeof v === "object" ? JSON.stringify(v) : String(v);
    dl.append(dt, dd);
  }
  div.appendChild(dl);
  return div;
}

async function health() {
  const box = document.getElementById("health");
  try {
    const h = await api("/api/health");
    const cards = [card("Daemon", [["lane", h.lane], ["mode", h.mode], ["frames", h.frames],
      ["models loaded", h.models_loaded], ["engine", h.engine.type], ["models", h.engine.models_dir],
      ["stale threads", h.stale_threads.join(", ") || "none"],
      ["reloads", `${h.reloads.applied} applied, ${h.reloads.rejected} rejected`],
      ["decision latency", h.decision_latency_ms.n ? `p50 ${h.decision_latency_ms.p50} ms over ${h.decision_latency_ms.n}` : "no decision yet"]])];
    for (const [name, c] of Object.entries(h.cameras)) {
      cards.push(card(`Camera ${name}`, [["state", c.state], ["reason", c.reason], ["frames", c.delivered],
        ["dropped", c.dropped], ["reconnects", c.reconnects]]));
    }
    cards.push(card("Gate", Object.entries(h.gate)));
    cards.push(card("Models", [["providers", h.engine.providers.join(", ")], ...Object.entries(h.models)]));
    cards.push(card("Broker", Object.entries(h.broker)));
    box.replaceChildren(...cards);
    const faults = document.getElementById("faults");
    faults.replaceChildren();
    for (const f of h.last_faults.slice().reverse()) {
      const tr = document.createElement("tr");
      cell(tr, clock(f.at)); cell(tr, f.kind); cell(tr, JSON.stringify(f.detail));
      faults.appendChild(tr);
    }
  } catch (e) { box.textContent = e.message; }
  setTimeout(health, 3000);
}

// ---- Config --------------------------------------------------------------------------------------
async function loadConfig() {
  const c = await api("/api/config");
  document.getElementById("config-file").textContent = c.file || "(none)";
  document.getElementById("config-check").textContent = c.check.length ? c.check.join("; ") : "ok";
  document.getElementById("config-text").value = c.text;
}

function config() {
  document.getElementById("config-apply").addEventListener("click", async () => {
    const result = document.getElementById("config-result");
    const errors = document.getElementById("config-errors");
    errors.replaceChildren();
    result.textContent = "checking…";
    try {
      const r = await api("/api/config/apply", {text: document.getElementById("config-text").value});
      result.textContent = r.applied ? "applied (reloaded)" : "written, but the daemon refused it: the running config is kept";
      result.dataset.outcome = r.applied ? "applied" : "rejected";
    } catch (e) {
      result.textContent = e.message;
      result.dataset.outcome = "refused";
      for (const line of (e.data && e.data.errors) || []) {
        const li = document.createElement("li"); li.textContent = line; errors.appendChild(li);
      }
    }
  });
  loadConfig();
}

({live, passages, people, health, config})[PAGE]();
