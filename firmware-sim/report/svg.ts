// A self-contained SVG plot of one run: setpoint, measurement and true
// output over time with the safety envelope, the actuator command below, the
// supervisor's mode as a coloured band, and the trip output as a hatched
// band along the command panel. No dependencies: an SVG is text.

import type { Trace, TimedEvent } from '../run.js';

const MODE_COLOURS = ['#e8f5e9', '#fff8e1', '#ffe0b2', '#ffcdd2'];
const MODE_NAMES = ['NOMINAL', 'DEGRADED', 'FALLBACK', 'SAFE_STOP'];
const TRIP_COLOUR = '#b71c1c';
/** Height of the trip band at the top of the command panel, px. */
const TRIP_BAND_PX = 10;

export interface PlotOptions {
  title: string;
  units: { measurement: string; command: string };
  envelope?: { min: number; max: number };
  faultOnsetS?: number;
  events?: readonly TimedEvent[];
  width?: number;
}

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** At most n points per series: keep the min and max of each bucket so spikes stay visible. */
function decimate(t: readonly number[], ys: readonly number[], n: number): [number, number][] {
  if (t.length <= n) return t.map((x, i) => [x, ys[i]]);
  const out: [number, number][] = [];
  const per = t.length / (n / 2);
  for (let b = 0; b < n / 2; b++) {
    const lo = Math.floor(b * per);
    const hi = Math.min(t.length, Math.floor((b + 1) * per));
    let iMin = lo;
    let iMax = lo;
    for (let i = lo; i < hi; i++) {
      if (ys[i] < ys[iMin]) iMin = i;
      if (ys[i] > ys[iMax]) iMax = i;
    }
    for (const i of iMin < iMax ? [iMin, iMax] : [iMax, iMin]) out.push([t[i], ys[i]]);
  }
  return out;
}

/** Spans where the trip output was asserted, as a hatched band at the top of the command panel (none if it never was). */
function tripBand(trace: Trace, x: (t: number) => number, top: number): string[] {
  const trip = trace.trip ?? [];
  if (!trip.some((v) => v !== 0)) return [];
  const parts = [
    `<defs><pattern id="trip-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
      `<rect width="6" height="6" fill="#ffebee"/><line x1="0" y1="0" x2="0" y2="6" stroke="${TRIP_COLOUR}" stroke-width="2"/></pattern></defs>`,
  ];
  const first = trip.findIndex((v) => v !== 0);
  parts.push(`<text x="${x(trace.tS[first]).toFixed(1)}" y="${top - 4}" fill="${TRIP_COLOUR}">trip demanded</text>`);
  let start = -1;
  for (let i = 0; i <= trip.length; i++) {
    const on = i < trip.length && trip[i] !== 0;
    if (on && start < 0) start = i;
    if (!on && start >= 0) {
      const xa = x(trace.tS[start]);
      const xb = x(trace.tS[Math.min(i, trace.tS.length - 1)]);
      parts.push(`<rect x="${xa.toFixed(1)}" y="${top}" width="${Math.max(xb - xa, 0.5).toFixed(1)}" height="${TRIP_BAND_PX}" fill="url(#trip-hatch)" stroke="${TRIP_COLOUR}" stroke-width="0.5"/>`);
      start = -1;
    }
  }
  return parts;
}

export function plotRun(trace: Trace, opts: PlotOptions): string {
  const W = opts.width ?? 1000;
  const H1 = 260;
  const H2 = 120;
  const L = 60;
  const R = 20;
  const top1 = 40;
  const top2 = top1 + H1 + 30;
  const H = top2 + H2 + 50;
  const t0 = trace.tS[0] ?? 0;
  const t1 = trace.tS[trace.tS.length - 1] ?? 1;
  const span = Math.max(t1 - t0, 1e-9);
  const x = (t: number) => L + ((t - t0) / span) * (W - L - R);
  const series1 = [trace.setpoint, trace.measurement, trace.truth];
  let { lo, hi } = extent(series1);
  if (opts.envelope) { lo = Math.min(lo, opts.envelope.min); hi = Math.max(hi, opts.envelope.max); }
  if (!(hi > lo)) { hi = lo + 1; }
  const pad = (hi - lo) * 0.05;
  lo -= pad; hi += pad;
  const y1 = (v: number) => top1 + H1 - ((v - lo) / (hi - lo)) * H1;
  const { lo: uLo, hi: uHi } = extent([trace.command]);
  const uSpan = uHi > uLo ? uHi - uLo : 1;
  const y2 = (v: number) => top2 + H2 - ((v - uLo) / uSpan) * H2;
  const path = (t: readonly number[], ys: readonly number[], fy: (v: number) => number) =>
    decimate(t, ys, 1600).map(([a, b], i) => `${i ? 'L' : 'M'}${x(a).toFixed(1)},${fy(b).toFixed(1)}`).join('');

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${L}" y="20" font-size="14" font-weight="bold">${esc(opts.title)}</text>`);
  // Mode bands behind both panels.
  let start = 0;
  for (let i = 1; i <= trace.mode.length; i++) {
    if (i === trace.mode.length || trace.mode[i] !== trace.mode[start]) {
      const m = trace.mode[start];
      const xa = x(trace.tS[start]);
      const xb = x(trace.tS[Math.min(i, trace.tS.length - 1)]);
      if (m !== 0) {
        for (const [top, h] of [[top1, H1], [top2, H2]]) {
          parts.push(`<rect x="${xa.toFixed(1)}" y="${top}" width="${Math.max(xb - xa, 0.5).toFixed(1)}" height="${h}" fill="${MODE_COLOURS[m]}"/>`);
        }
      }
      start = i;
    }
  }
  parts.push(...tripBand(trace, x, top2));
  for (const [top, h] of [[top1, H1], [top2, H2]]) parts.push(`<rect x="${L}" y="${top}" width="${W - L - R}" height="${h}" fill="none" stroke="#999"/>`);
  if (opts.envelope) {
    for (const v of [opts.envelope.min, opts.envelope.max]) {
      parts.push(`<line x1="${L}" x2="${W - R}" y1="${y1(v).toFixed(1)}" y2="${y1(v).toFixed(1)}" stroke="#c62828" stroke-dasharray="6,4"/>`);
    }
    parts.push(`<text x="${W - R - 4}" y="${(y1(opts.envelope.max) - 4).toFixed(1)}" text-anchor="end" fill="#c62828">safety envelope</text>`);
  }
  if (opts.faultOnsetS !== undefined) {
    const xf = x(opts.faultOnsetS).toFixed(1);
    parts.push(`<line x1="${xf}" x2="${xf}" y1="${top1}" y2="${top2 + H2}" stroke="#6a1b9a" stroke-dasharray="3,3"/>`);
    parts.push(`<text x="${xf}" y="${top1 - 4}" fill="#6a1b9a" text-anchor="middle">fault</text>`);
  }
  for (const ev of opts.events ?? []) {
    if (ev.kind !== 'trip') continue;
    const xe = x(ev.tS).toFixed(1);
    parts.push(`<line x1="${xe}" x2="${xe}" y1="${top1}" y2="${top1 + H1}" stroke="#d84315"/>`);
    parts.push(`<text x="${xe}" y="${top1 + 12}" fill="#d84315" transform="rotate(90 ${xe} ${top1 + 12})">${esc(ev.monitor ?? '')}</text>`);
  }
  parts.push(`<path d="${path(trace.tS, trace.truth, y1)}" fill="none" stroke="#90a4ae" stroke-width="1"/>`);
  parts.push(`<path d="${path(trace.tS, trace.measurement, y1)}" fill="none" stroke="#1565c0" stroke-width="1.2"/>`);
  parts.push(`<path d="${path(trace.tS, trace.setpoint, y1)}" fill="none" stroke="#2e7d32" stroke-width="1.5" stroke-dasharray="8,3"/>`);
  parts.push(`<path d="${path(trace.tS, trace.command, y2)}" fill="none" stroke="#ef6c00" stroke-width="1.2"/>`);
  // Axes labels.
  for (const v of [lo + pad, (lo + hi) / 2, hi - pad]) {
    parts.push(`<text x="${L - 4}" y="${(y1(v) + 4).toFixed(1)}" text-anchor="end">${v.toPrecision(4)}</text>`);
  }
  for (const v of [uLo, uHi]) parts.push(`<text x="${L - 4}" y="${(y2(v) + 4).toFixed(1)}" text-anchor="end">${v.toPrecision(3)}</text>`);
  for (let k = 0; k <= 5; k++) {
    const t = t0 + (span * k) / 5;
    parts.push(`<text x="${x(t).toFixed(1)}" y="${top2 + H2 + 14}" text-anchor="middle">${t.toFixed(0)} s</text>`);
  }
  parts.push(`<text x="12" y="${top1 + H1 / 2}" transform="rotate(-90 12 ${top1 + H1 / 2})" text-anchor="middle">${esc(opts.units.measurement)}</text>`);
  parts.push(`<text x="12" y="${top2 + H2 / 2}" transform="rotate(-90 12 ${top2 + H2 / 2})" text-anchor="middle">${esc(opts.units.command)}</text>`);
  // Legend.
  const legend: [string, string][] = [['#2e7d32', 'setpoint'], ['#1565c0', 'measurement (core)'], ['#90a4ae', 'true output'], ['#ef6c00', 'command applied']];
  legend.forEach(([c, n], i) => {
    const lx = L + i * 160;
    parts.push(`<line x1="${lx}" x2="${lx + 20}" y1="${H - 14}" y2="${H - 14}" stroke="${c}" stroke-width="2"/><text x="${lx + 24}" y="${H - 10}">${n}</text>`);
  });
  MODE_NAMES.slice(1).forEach((n, i) => {
    const lx = L + 640 + i * 100;
    if (lx + 90 > W) return;
    parts.push(`<rect x="${lx}" y="${H - 20}" width="12" height="12" fill="${MODE_COLOURS[i + 1]}" stroke="#999"/><text x="${lx + 16}" y="${H - 10}">${n}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** The smallest and largest value over some series, in one pass (no spread: a long run has more points than the stack allows arguments). */
function extent(series: readonly (readonly number[])[]): { lo: number; hi: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of series) {
    for (const v of s) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return { lo, hi };
}
