/** Horizontal bar charts as hand-written SVG (no dependencies), for docs/img/bench-*.svg. */

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Flotilla's own bars are drawn in the accent colour. */
  readonly ours?: boolean;
  /** Text after the bar; default: the value. */
  readonly note?: string;
}

export interface BarChart {
  readonly title: string;
  /** Second line: machine, data set, how the figure was taken. */
  readonly subtitle: string;
  readonly unit: string;
  readonly bars: readonly Bar[];
  /** Dashed reference lines (e.g. a target), at a value on the same axis. */
  readonly marks?: readonly { value: number; label: string }[];
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A "nice" axis maximum: 1, 2, 2.5 or 5 times a power of ten, at or above `v`. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function barChartSvg(c: BarChart): string {
  const labelW = 250;
  const plotW = 430;
  const noteW = 120;
  const barH = 22;
  const gap = 10;
  const top = 80;
  const width = labelW + plotW + noteW + 20;
  const height = top + c.bars.length * (barH + gap) + 40;
  const max = niceMax(Math.max(...c.bars.map((b) => b.value), ...(c.marks ?? []).map((m) => m.value)));
  const x = (v: number) => labelW + (plotW * v) / max;
  const fmt = (v: number) =>
    v >= 100
      ? Math.round(v).toLocaleString('en-US')
      : v.toLocaleString('en-US', { maximumFractionDigits: 2 });
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<title>${esc(c.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="16" font-weight="bold" fill="#111">${esc(c.title)}</text>`,
    `<text x="12" y="42" font-size="11" fill="#555">${esc(c.subtitle)}</text>`,
  ];
  const axisY = top + c.bars.length * (barH + gap);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const gx = x(v);
    out.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${axisY}" stroke="#e3e3e3"/>`);
    out.push(
      `<text x="${gx}" y="${axisY + 16}" text-anchor="middle" font-size="11" fill="#555">${fmt(v)}</text>`,
    );
  }
  out.push(
    `<text x="${labelW + plotW / 2}" y="${axisY + 32}" text-anchor="middle" font-size="11" fill="#333">${esc(c.unit)}</text>`,
  );
  for (const m of c.marks ?? []) {
    const mx = x(m.value);
    out.push(
      `<line x1="${mx}" y1="${top - 10}" x2="${mx}" y2="${axisY}" stroke="#d1242f" stroke-dasharray="4 3"/>`,
    );
    out.push(`<text x="${mx + 4}" y="${top - 14}" font-size="11" fill="#d1242f">${esc(m.label)}</text>`);
  }
  c.bars.forEach((b, i) => {
    const y = top + i * (barH + gap);
    const w = Math.max(1, x(b.value) - labelW);
    out.push(
      `<text x="${labelW - 8}" y="${y + barH / 2 + 4}" text-anchor="end" fill="#111"${b.ours ? ' font-weight="bold"' : ''}>${esc(b.label)}</text>`,
    );
    out.push(
      `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.ours ? '#1f6feb' : '#9aa4b2'}"/>`,
    );
    out.push(
      `<text x="${labelW + w + 6}" y="${y + barH / 2 + 4}" fill="#111" stroke="#fff" stroke-width="4" paint-order="stroke">${esc(b.note ?? fmt(b.value))}</text>`,
    );
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
