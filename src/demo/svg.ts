/**
 * Small SVG chart builders for the demo's self-contained report: line charts, stacked bars, horizontal grouped
 * bars and a heat strip. Pure string output (no library, no script); every mark has a `<title>` tooltip. Each chart
 * carries `data-chart="<id>"` and its marks the class `mark`, so a test can count what was drawn.
 */

export interface Series {
  name: string;
  color: string;
  values: (number | null)[];
  dashed?: boolean;
  /** Line width (default 2): lines drawn first can be wider, so that lines on top of them stay visible. */
  width?: number;
}

const W = 960;
const H = 300;
const M = { top: 16, right: 16, bottom: 40, left: 64 };

export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0];
  if (hi === lo) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let k = Math.floor(lo / step); ; k++) {
    ticks.push(k * step);
    if (k * step >= hi) break;
  }
  return ticks;
}

/** Legend entries side by side, each as wide as its text. */
function legendRow(
  items: { name: string; color: string; dashed?: boolean }[],
  x0: number,
  y: number,
  swatch: "line" | "box",
): string {
  let x = x0;
  return items
    .map((s) => {
      const mark =
        swatch === "line"
          ? `<line x1="0" x2="18" y1="-4" y2="-4" stroke="${s.color}" stroke-width="3"${s.dashed ? ' stroke-dasharray="5 3"' : ""}/>`
          : `<rect x="0" y="-10" width="14" height="10" fill="${s.color}"/>`;
      const g = `<g transform="translate(${x.toFixed(0)},${y})">${mark}<text x="24" y="0" class="legend">${esc(s.name)}</text></g>`;
      x += 40 + 6.6 * s.name.length;
      return g;
    })
    .join("");
}

function frame(
  id: string,
  title: string,
  labels: string[],
  yTicks: number[],
  y: (v: number) => number,
  fmt: (v: number) => string,
  body: string,
  legend: { name: string; color: string; dashed?: boolean }[],
  height = H,
): string {
  const plotW = W - M.left - M.right;
  const every = Math.max(1, Math.ceil(labels.length / 12));
  const xAt = (i: number) => M.left + ((i + 0.5) * plotW) / Math.max(1, labels.length);
  const grid = yTicks
    .map(
      (t) =>
        `<line x1="${M.left}" x2="${W - M.right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" class="grid"/>` +
        `<text x="${M.left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end" class="tick">${esc(fmt(t))}</text>`,
    )
    .join("");
  const xLabels = labels
    .map((l, i) =>
      i % every === 0
        ? `<text x="${xAt(i).toFixed(1)}" y="${height - M.bottom + 16}" text-anchor="middle" class="tick">${esc(l)}</text>`
        : "",
    )
    .join("");
  const leg = legendRow(legend, M.left + 8, height - 6, "line");
  return (
    `<svg data-chart="${esc(id)}" role="img" aria-label="${esc(title)}" viewBox="0 0 ${W} ${height}" width="100%" preserveAspectRatio="xMidYMid meet">` +
    `<title>${esc(title)}</title>${grid}${body}${xLabels}` +
    `<line x1="${M.left}" x2="${W - M.right}" y1="${height - M.bottom}" y2="${height - M.bottom}" class="axis"/>${leg}</svg>`
  );
}

/** Lines over intervals; null values break a line. */
export function lineChart(
  id: string,
  title: string,
  labels: string[],
  series: Series[],
  fmt: (v: number) => string,
  opts: { min?: number; max?: number; markers?: { index: number; value: number; color: string; title: string }[] } = {},
): string {
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const ticks = niceTicks(opts.min ?? Math.min(0, ...all), opts.max ?? Math.max(1, ...all));
  const lo = ticks[0];
  const hi = ticks[ticks.length - 1];
  const plotH = H - M.top - M.bottom;
  const plotW = W - M.left - M.right;
  const y = (v: number) => M.top + plotH - ((v - lo) / (hi - lo)) * plotH;
  const x = (i: number) => M.left + ((i + 0.5) * plotW) / Math.max(1, labels.length);
  const paths = series
    .map((s) => {
      let d = "";
      let pen = false;
      s.values.forEach((v, i) => {
        if (v === null) {
          pen = false;
          return;
        }
        d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      return d === ""
        ? ""
        : `<path class="mark series" d="${d}" fill="none" stroke="${s.color}" stroke-width="${s.width ?? 2}"${s.dashed ? ' stroke-dasharray="6 4"' : ""}><title>${esc(s.name)}</title></path>`;
    })
    .join("");
  const markers = (opts.markers ?? [])
    .map(
      (m) =>
        `<circle class="mark marker" cx="${x(m.index).toFixed(1)}" cy="${y(m.value).toFixed(1)}" r="4" fill="${m.color}"><title>${esc(m.title)}</title></circle>`,
    )
    .join("");
  return frame(id, title, labels, ticks, y, fmt, paths + markers, series);
}

/** Stacked bars over intervals (one stack per label). */
export function stackedBars(
  id: string,
  title: string,
  labels: string[],
  series: Series[],
  fmt: (v: number) => string,
  tip: (i: number) => string,
): string {
  const totals = labels.map((_, i) => series.reduce((s, x) => s + Math.max(0, x.values[i] ?? 0), 0));
  const ticks = niceTicks(0, Math.max(1, ...totals));
  const hi = ticks[ticks.length - 1];
  const plotH = H - M.top - M.bottom;
  const plotW = W - M.left - M.right;
  const y = (v: number) => M.top + plotH - (v / hi) * plotH;
  const bw = plotW / Math.max(1, labels.length);
  let body = "";
  labels.forEach((_, i) => {
    let base = 0;
    for (const s of series) {
      const v = Math.max(0, s.values[i] ?? 0);
      if (v === 0) continue;
      const top = y(base + v);
      const h = y(base) - top;
      body += `<rect class="mark bar" x="${(M.left + i * bw + bw * 0.1).toFixed(1)}" y="${top.toFixed(1)}" width="${(bw * 0.8).toFixed(1)}" height="${Math.max(0.5, h).toFixed(1)}" fill="${s.color}"><title>${esc(`${s.name}: ${tip(i)} — ${fmt(v)}`)}</title></rect>`;
      base += v;
    }
  });
  return frame(id, title, labels, ticks, y, fmt, body, series);
}

/** Horizontal grouped bars: one row per category, one bar per series (negative values go left of zero). */
export function groupedHBars(
  id: string,
  title: string,
  categories: string[],
  series: Series[],
  fmt: (v: number) => string,
): string {
  const rowH = 12 * series.length + 10;
  const height = M.top + categories.length * rowH + 56;
  const left = Math.max(110, Math.ceil(6.6 * Math.max(...categories.map((c) => c.length))) + 16);
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const ticks = niceTicks(Math.min(0, ...all), Math.max(0, ...all), 6);
  const lo = ticks[0];
  const hi = ticks[ticks.length - 1];
  const plotW = W - left - 40; // room for the last tick's label
  const x = (v: number) => left + ((v - lo) / (hi - lo)) * plotW;
  const bottom = height - 40;
  let body = ticks
    .map(
      (t) =>
        `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${M.top}" y2="${bottom}" class="grid"/>` +
        `<text x="${x(t).toFixed(1)}" y="${bottom + 16}" text-anchor="middle" class="tick">${esc(fmt(t))}</text>`,
    )
    .join("");
  body += `<line x1="${x(0).toFixed(1)}" x2="${x(0).toFixed(1)}" y1="${M.top}" y2="${bottom}" class="axis"/>`;
  categories.forEach((c, r) => {
    const top = M.top + r * rowH;
    body += `<text x="${left - 8}" y="${top + rowH / 2 + 4}" text-anchor="end" class="tick">${esc(c)}</text>`;
    series.forEach((s, k) => {
      const v = s.values[r];
      if (v === null || v === undefined) return;
      const x0 = x(Math.min(0, v));
      const w = Math.max(0.5, Math.abs(x(v) - x(0)));
      body += `<rect class="mark bar" x="${x0.toFixed(1)}" y="${(top + 4 + k * 12).toFixed(1)}" width="${w.toFixed(1)}" height="10" fill="${s.color}"><title>${esc(`${c} — ${s.name}: ${fmt(v)}`)}</title></rect>`;
    });
  });
  const leg = legendRow(series, left, height - 6, "box");
  return `<svg data-chart="${esc(id)}" role="img" aria-label="${esc(title)}" viewBox="0 0 ${W} ${height}" width="100%"><title>${esc(title)}</title>${body}${leg}</svg>`;
}

/** A zone × interval strip: one cell per (row, interval), coloured by state. */
export function heatStrip(
  id: string,
  title: string,
  labels: string[],
  rows: { name: string; cells: { color: string; title: string; marked: boolean }[] }[],
): string {
  const left = 110;
  const cellH = 26;
  const height = M.top + rows.length * cellH + 40;
  const plotW = W - left - M.right;
  const cw = plotW / Math.max(1, labels.length);
  let body = "";
  rows.forEach((row, r) => {
    const top = M.top + r * cellH;
    body += `<text x="${left - 8}" y="${top + cellH / 2 + 4}" text-anchor="end" class="tick">${esc(row.name)}</text>`;
    row.cells.forEach((c, i) => {
      body += `<rect class="${c.marked ? "mark cell" : "cell"}" x="${(left + i * cw).toFixed(1)}" y="${top + 2}" width="${Math.max(0.5, cw - 1).toFixed(1)}" height="${cellH - 4}" fill="${c.color}"><title>${esc(c.title)}</title></rect>`;
    });
  });
  const every = Math.max(1, Math.ceil(labels.length / 12));
  body += labels
    .map((l, i) =>
      i % every === 0
        ? `<text x="${(left + (i + 0.5) * cw).toFixed(1)}" y="${height - 20}" text-anchor="middle" class="tick">${esc(l)}</text>`
        : "",
    )
    .join("");
  return `<svg data-chart="${esc(id)}" role="img" aria-label="${esc(title)}" viewBox="0 0 ${W} ${height}" width="100%"><title>${esc(title)}</title>${body}</svg>`;
}
