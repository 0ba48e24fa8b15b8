// wintriage timeline explorer. Plain JS, no dependencies. Evidence strings are only ever assigned with
// textContent (never innerHTML), so a history title such as <img src=x onerror=...> renders as text.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const el = (tag, props = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === "text") e.textContent = v == null ? "" : String(v);
      else if (k === "cls") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids) e.append(kid);
    return e;
  };
  const ROW_H = 22, PAGE = 500;
  const EPOCH_DIFF = 11644473600000n; // ms between 1601 and 1970
  const state = {
    meta: null, table: "timeline", cols: [], visible: [], widths: {}, sort: "ts", desc: false,
    filters: [], q: "", tagged: false, rows: [], next: null, loading: false, done: false,
    offsetMin: 0, selected: null, groupBy: "", gen: 0, count: null,
  };
  const TIME_COLS = new Set(["ts", "timestamp", "time_created", "last_run", "start_time", "end_time", "visit_time",
    "si_created", "si_modified", "si_accessed", "si_record_changed", "fn_created", "fn_modified", "fn_accessed",
    "fn_record_changed", "run_time", "last_write", "deletion_time"]);
  const DEFAULT_VISIBLE = { timeline: ["ts", "ts_desc", "artifact", "category", "user", "path", "summary"] };

  function fmtTime(ticks) {
    if (ticks === null || ticks === undefined || ticks === "") return "";
    const t = BigInt(ticks);
    const ms = Number(t / 10000n - EPOCH_DIFF) + state.offsetMin * 60000;
    const frac = (t % 10000000n).toString().padStart(7, "0");
    const d = new Date(ms);
    if (isNaN(d.getTime())) return String(ticks);
    return d.toISOString().slice(0, 19).replace("T", " ") + "." + frac;
  }
  const cellText = (c, v) => (TIME_COLS.has(c) && typeof v === "number" ? fmtTime(v) : v == null ? "" : String(v));
  const zoneLabel = () => state.offsetMin === 0 ? "UTC" :
    "UTC" + (state.offsetMin > 0 ? "+" : "-") + Math.floor(Math.abs(state.offsetMin) / 60) + (Math.abs(state.offsetMin) % 60 ? ":" + String(Math.abs(state.offsetMin) % 60).padStart(2, "0") : "");

  async function api(path, params = {}, opts = {}) {
    const u = new URL(path, location.origin);
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") u.searchParams.set(k, v);
    const r = await fetch(u, opts);
    const body = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(body.error || r.statusText);
    return body;
  }
  const baseParams = () => ({
    table: state.table, filters: state.filters.length ? JSON.stringify(state.filters) : "",
    q: state.table === "timeline" ? state.q : "", tagged: state.tagged ? "1" : "",
  });
  const status = (s) => { $("status").textContent = s; };

  // ---- grid ------------------------------------------------------------------------------------
  function buildHead() {
    const head = $("grid-head");
    head.replaceChildren();
    for (const c of state.visible) {
      const w = state.widths[c] || (c === "summary" || c === "path" ? 360 : TIME_COLS.has(c) ? 190 : 110);
      state.widths[c] = w;
      const name = el("span", { cls: "name", text: c + (state.sort === c ? (state.desc ? " ▼" : " ▲") : ""), title: "sort by " + c });
      name.addEventListener("click", () => { state.desc = state.sort === c ? !state.desc : false; state.sort = c; reload(); });
      const op = el("select", { "aria-label": "operator for " + c });
      for (const o of ["contains", "equals", "not_contains", "regex", "gt", "lt"]) op.append(el("option", { value: o, text: o }));
      const inp = el("input", { placeholder: "filter", "data-col": c, "aria-label": "filter " + c });
      inp.addEventListener("keydown", (e) => {
        if (e.key !== "Enter" || !inp.value) return;
        let v = inp.value;
        if (TIME_COLS.has(c) && (op.value === "gt" || op.value === "lt")) v = parseTime(v);
        addFilter({ col: c, op: op.value, value: v }); inp.value = "";
      });
      head.append(el("div", { cls: "hcell", style: `width:${w}px` }, name, el("div", { cls: "f" }, op, inp)));
    }
  }
  function parseTime(text) { // "2024-12-12 15:02:19" in the display zone -> FILETIME ticks
    const ms = Date.parse(text.trim().replace(" ", "T") + "Z");
    if (isNaN(ms)) return text;
    return Number((BigInt(ms - state.offsetMin * 60000) + EPOCH_DIFF) * 10000n);
  }
  function renderRows() {
    const grid = $("grid"), box = $("grid-rows");
    const total = state.rows.length;
    $("grid-spacer").style.height = (total * ROW_H + (state.done ? 0 : ROW_H * 5)) + "px";
    const first = Math.max(0, Math.floor(grid.scrollTop / ROW_H) - 10);
    const last = Math.min(total, first + Math.ceil(grid.clientHeight / ROW_H) + 20);
    box.style.top = (first * ROW_H) + "px";
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const r = state.rows[i];
      const div = el("div", { cls: "row" + (state.selected === r.id ? " sel" : "") + (r._tags && r._tags.length ? " tagged" : ""), "data-id": r.id, role: "row" });
      for (const c of state.visible) div.append(el("div", { cls: "cell", style: `width:${state.widths[c]}px`, text: cellText(c, r[c]), title: cellText(c, r[c]) }));
      div.addEventListener("click", () => openDetail(state.table, r.id));
      frag.append(div);
    }
    box.replaceChildren(frag);
    const totalW = state.visible.reduce((a, c) => a + state.widths[c] + 9, 0);
    box.style.width = totalW + "px";
    if (!state.done && last >= total - 50) loadMore();
  }
  async function loadMore() {
    if (state.loading || state.done) return;
    state.loading = true;
    const gen = state.gen;
    try {
      const res = await api("/api/rows", { ...baseParams(), sort: state.sort, dir: state.desc ? "desc" : "asc", limit: PAGE, after: state.next });
      if (gen !== state.gen) return;
      state.rows.push(...res.rows);
      state.next = res.next;
      state.done = !res.next;
      // the count, once known, stays the status whichever answer comes last
      status(state.count !== null ? `${state.count} rows` : `${state.rows.length}${state.done ? "" : "+"} rows loaded`);
    } catch (e) { status("error: " + e.message); state.done = true; }
    finally { state.loading = false; }
    if (gen === state.gen) renderRows();
  }
  async function reload() {
    state.gen++; state.rows = []; state.next = null; state.done = false; state.loading = false; state.count = null;
    $("grid").scrollTop = 0;
    buildHead(); renderFilters(); renderRows();
    loadMore();
    refreshCount(); refreshHistogram(); refreshGroups();
  }
  async function refreshCount() {
    const gen = state.gen;
    try {
      const c = await api("/api/count", baseParams());
      if (gen === state.gen) { state.count = c.count; status(`${c.count} rows`); }
    } catch (e) { status("error: " + e.message); }
  }

  // ---- filters ---------------------------------------------------------------------------------
  function addFilter(f) { state.filters.push(f); reload(); }
  function renderFilters() {
    const bar = $("filters-bar");
    bar.replaceChildren();
    state.filters.forEach((f, i) => {
      const v = Array.isArray(f.value) ? f.value.map((x) => TIME_COLS.has(f.col) ? fmtTime(x) : x).join(" … ") : (TIME_COLS.has(f.col) && typeof f.value === "number" ? fmtTime(f.value) : f.value);
      const chip = el("span", { cls: "chip", text: `${f.col} ${f.op} ${v}` });
      chip.append(el("button", { text: "×", title: "remove filter", onclick: () => { state.filters.splice(i, 1); reload(); } }));
      bar.append(chip);
    });
    if (state.q) bar.append(el("span", { cls: "chip", text: `search: ${state.q}` }));
  }

  // ---- histogram (drag to select a time range) -------------------------------------------------
  let hist = null;
  async function refreshHistogram() {
    const svg = $("hist");
    svg.replaceChildren();
    if (!state.cols.includes("ts")) { hist = null; return; }
    const gen = state.gen;
    try {
      const h = await api("/api/histogram", { ...baseParams(), bins: 200 });
      if (gen !== state.gen) return;
      hist = h;
      const n = h.bins.length, peak = Math.max(1, ...h.bins);
      svg.setAttribute("viewBox", `0 0 ${n} 100`);
      h.bins.forEach((c, i) => {
        if (!c) return;
        const hgt = Math.max(3, 100 * Math.sqrt(c / peak)); // sqrt: quiet days stay visible next to a burst
        const r = document.createElementNS("http://www.w3.org/2000/svg", "rect");
        r.setAttribute("x", i); r.setAttribute("y", 100 - hgt); r.setAttribute("width", 0.9); r.setAttribute("height", hgt);
        r.setAttribute("class", "bar");
        const t = document.createElementNS("http://www.w3.org/2000/svg", "title");
        t.textContent = `${fmtTime(h.lo + i * h.width)}: ${c}`;
        r.append(t); svg.append(r);
      });
    } catch (e) { /* histogram is optional */ }
  }
  function setupBrush() {
    const wrap = $("hist-wrap");
    let x0 = null, sel = null;
    const binAt = (ev) => { const b = wrap.getBoundingClientRect(); return Math.max(0, Math.min(1, (ev.clientX - b.left) / b.width)); };
    wrap.addEventListener("mousedown", (ev) => { if (!hist) return; x0 = binAt(ev); });
    wrap.addEventListener("mousemove", (ev) => {
      if (x0 === null || !hist) return;
      const x1 = binAt(ev), n = hist.bins.length;
      if (!sel) { sel = document.createElementNS("http://www.w3.org/2000/svg", "rect"); sel.setAttribute("class", "sel"); $("hist").append(sel); }
      sel.setAttribute("x", Math.min(x0, x1) * n); sel.setAttribute("width", Math.abs(x1 - x0) * n); sel.setAttribute("y", 0); sel.setAttribute("height", 100);
    });
    window.addEventListener("mouseup", (ev) => {
      if (x0 === null || !hist) { x0 = null; return; }
      const x1 = binAt(ev); const a = Math.min(x0, x1), b = Math.max(x0, x1); x0 = null; sel = null;
      if (b - a < 0.002) return;
      const span = hist.hi - hist.lo;
      state.filters = state.filters.filter((f) => !(f.col === "ts" && f.op === "between"));
      addFilter({ col: "ts", op: "between", value: [Math.floor(hist.lo + a * span), Math.ceil(hist.lo + b * span)] });
    });
  }

  // ---- group by --------------------------------------------------------------------------------
  async function refreshGroups() {
    const aside = $("groups");
    if (!state.groupBy) { aside.hidden = true; return; }
    aside.hidden = false;
    $("groups-title").textContent = `Grouped by ${state.groupBy}`;
    const gen = state.gen;
    try {
      const g = await api("/api/group", { ...baseParams(), column: state.groupBy });
      if (gen !== state.gen) return;
      const ul = $("groups-list"); ul.replaceChildren();
      for (const x of g.groups) {
        const li = el("li", { "data-value": x.value == null ? "" : String(x.value) }, el("span", { text: x.value == null ? "(empty)" : cellText(state.groupBy, x.value) }), el("b", { text: x.count }));
        li.addEventListener("click", () => addFilter(x.value == null ? { col: state.groupBy, op: "empty" } : { col: state.groupBy, op: "equals", value: x.value }));
        ul.append(li);
      }
    } catch (e) { status("error: " + e.message); }
  }

  // ---- detail pane -----------------------------------------------------------------------------
  async function openDetail(table, id) {
    state.selected = id; renderRows();
    const d = await api("/api/row", { table, id });
    $("findings").hidden = true;
    const aside = $("detail"); aside.hidden = false;
    aside.dataset.table = table; aside.dataset.id = id;
    $("detail-title").textContent = `${table} #${id}`;
    const t = $("detail-table"); t.replaceChildren();
    const add = (rowObj, title) => {
      t.append(el("tr", { cls: "sect" }, el("td", { colspan: 2, text: title })));
      for (const [k, v] of Object.entries(rowObj)) t.append(el("tr", {}, el("td", { cls: "k", text: k }), el("td", { text: cellText(k, v) })));
    };
    add(d.row, table === "timeline" ? "Timeline row" : table);
    if (d.ref) add(d.ref.row, `Source record: ${d.ref.table} #${d.ref.row.id}`);
    const rel = $("detail-related"); rel.replaceChildren();
    for (const r of d.related) rel.append(el("button", { type: "button", text: r.label, onclick: () => { switchTable(r.table, r.filters); } }));
    renderTags(d.tags);
  }
  function renderTags(tags) {
    const s = $("tag-list"); s.replaceChildren();
    for (const x of tags || []) s.append(el("span", { cls: "chip", text: x.tag + (x.note ? `: ${x.note}` : "") }));
  }
  async function addTag() {
    const aside = $("detail");
    const body = { table: aside.dataset.table, id: Number(aside.dataset.id), tag: $("tag-name").value || "bookmark", note: $("tag-note").value };
    await api("/api/tags", {}, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const row = state.rows.find((r) => r.id === body.id);
    if (row) { row._tags = [...(row._tags || []), body.tag]; renderRows(); }
    await openDetail(body.table, body.id);
    status(`tagged ${body.table} #${body.id}`);
  }

  // ---- findings panel --------------------------------------------------------------------------
  async function openFindings() {
    const f = await api("/api/findings");
    $("detail").hidden = true;
    const aside = $("findings"); aside.hidden = false;
    const body = $("findings-body"); body.replaceChildren();
    const a = f.answers || {};
    const rw = a.ransomware || {}, ia = a.initial_access || {};
    const kv = (k, v) => el("div", { cls: "answer" }, el("span", { cls: "k", text: k }), el("span", { text: v == null ? "" : v }));
    body.append(el("h4", { text: "Answers" }));
    if (rw.detected) {
      const fe = rw.first_encrypted || {}, ex = rw.executable || {};
      body.append(kv("First encrypted", fe.original_path), kv("Time (UTC)", fe.time_utc), kv("Executable", ex.path),
        kv("Encrypted files", rw.encrypted_count), kv("New extension", rw.new_extension), kv("Ransom note", rw.note_name));
      for (const e of rw.evidence || []) body.append(evLink(e));
    } else body.append(kv("Ransomware", "not detected"));
    if (ia.found) {
      body.append(kv("Download URL", ia.download_url), kv("File", ia.file_path), kv("Downloaded (UTC)", ia.downloaded_utc), kv("Executed (UTC)", ia.executed_utc));
      for (const e of ia.evidence || []) body.append(evLink(e));
    }
    for (const [k, v] of Object.entries(a.flags || {})) body.append(kv(k, v || "not determined"));
    body.append(el("h4", { text: `Findings (${f.findings.length})` }));
    for (const x of f.findings) {
      const box = el("div", { cls: "finding" }, el("span", { cls: `sev sev-${x.severity}`, text: x.severity }), el("b", { text: x.title }),
        el("div", { text: (x.ts ? fmtTime(x.ts) + " " + zoneLabel() + " · " : "") + (x.description || "") }));
      for (const e of x.evidence) box.append(evLink(e));
      body.append(box);
    }
  }
  const evLink = (e) => el("a", { cls: "ev", text: `${e.table} #${e.id} ${e.note || ""}`, onclick: () => switchTable(e.table, [{ col: "id", op: "equals", value: e.id }], e.id) });

  // ---- table / columns / zone ------------------------------------------------------------------
  function switchTable(table, filters = [], openId = null) {
    if (!state.meta.columns[table]) return;
    state.table = table; $("table").value = table;
    state.cols = state.meta.columns[table];
    state.visible = (DEFAULT_VISIBLE[table] || state.cols.filter((c) => c !== "source_id")).filter((c) => state.cols.includes(c)).slice(0, 14);
    state.sort = state.cols.includes("ts") ? "ts" : "id"; state.desc = false;
    state.filters = filters; state.groupBy = ""; $("groupby").value = "";
    fillGroupBy(); reload();
    if (openId !== null) openDetail(table, openId);
  }
  function fillGroupBy() {
    const g = $("groupby"); g.replaceChildren(el("option", { value: "", text: "(none)" }));
    for (const c of state.cols) g.append(el("option", { value: c, text: c }));
  }
  function openColumns() {
    const list = $("columns-list"); list.replaceChildren();
    for (const c of state.cols) {
      const cb = el("input", { type: "checkbox", value: c });
      cb.checked = state.visible.includes(c);
      cb.addEventListener("change", () => {
        state.visible = state.cols.filter((x) => (x === c ? cb.checked : state.visible.includes(x)));
        buildHead(); renderRows();
      });
      list.append(el("label", { style: "display:block" }, cb, document.createTextNode(" " + c)));
    }
    $("columns-dlg").showModal();
  }
  function exportCsv() {
    const u = new URL("/api/export.csv", location.origin);
    const p = { ...baseParams(), sort: state.sort, tz: zoneLabel().replace("UTC", "") || "UTC" };
    for (const [k, v] of Object.entries(p)) if (v) u.searchParams.set(k, v);
    const a = el("a", { href: u.toString(), download: "" }); document.body.append(a); a.click(); a.remove();
  }

  async function init() {
    state.meta = await api("/api/meta");
    const tsel = $("table");
    for (const t of state.meta.tables) tsel.append(el("option", { value: t, text: t }));
    tsel.addEventListener("change", () => switchTable(tsel.value));
    const zones = [["UTC", 0]];
    if (state.meta.case_offset_minutes != null && state.meta.case_offset_minutes !== 0) zones.push(["case zone", state.meta.case_offset_minutes]);
    for (let h = -12; h <= 14; h++) if (h) zones.push([`UTC${h > 0 ? "+" : ""}${h}`, h * 60]);
    const zsel = $("zone");
    for (const [label, m] of zones) zsel.append(el("option", { value: m, text: label + (label === "case zone" ? ` (${m / 60 >= 0 ? "+" : ""}${m / 60})` : "") }));
    zsel.addEventListener("change", () => { state.offsetMin = Number(zsel.value); renderRows(); renderFilters(); refreshHistogram(); });
    $("search").addEventListener("keydown", (e) => { if (e.key === "Enter") { state.q = e.target.value.trim(); reload(); } });
    $("groupby").addEventListener("change", (e) => { state.groupBy = e.target.value; refreshGroups(); });
    $("tagged").addEventListener("change", (e) => { state.tagged = e.target.checked; reload(); });
    $("export").addEventListener("click", exportCsv);
    $("columns-btn").addEventListener("click", openColumns);
    $("findings-btn").addEventListener("click", openFindings);
    $("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
    $("findings-close").addEventListener("click", () => { $("findings").hidden = true; });
    $("tag-add").addEventListener("click", addTag);
    $("grid").addEventListener("scroll", () => { $("grid-head").scrollLeft = $("grid").scrollLeft; renderRows(); });
    window.addEventListener("resize", renderRows);
    setupBrush();
    switchTable("timeline");
  }
  init().catch((e) => status("error: " + e.message));
})();
