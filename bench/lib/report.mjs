/** The Markdown table and the hand-written SVG chart of a results object. */

function fmt(v, unit) {
  if (v === undefined || Number.isNaN(v)) return '';
  if (unit === 'MB') return `${(v / 1024).toFixed(1)} MB`;
  const s = v / 1000;
  return s >= 100 ? `${s.toFixed(0)} s` : s >= 10 ? `${s.toFixed(1)} s` : s >= 0.1 ? `${s.toFixed(2)} s` : `${s.toFixed(3)} s`;
}

const esc = (s) => String(s ?? '').replace(/\|/g, '\\|');

export function markdownTable(results) {
  const lines = [
    `# nspawn-kit benchmarks, ${results.date}${results.quick ? ' (--quick)' : ''}`,
    '',
    `Machine: ${results.env.nproc} CPUs, ${results.env.memMB} MB RAM, ${results.env.kernel}; ${results.env.os}. Node ${results.env.node}.`,
    `Tools: ${Object.entries(results.env.tools).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    `Run took ${(results.durationMs / 60000).toFixed(1)} min. Times are wall-clock; median, min and max over n runs. Ratio = median / the reference's median.`,
    '',
    '| group | case | n | median | min | max | reference | ratio | target | met? | notes |',
    '|---|---|---:|---:|---:|---:|---|---:|---|---|---|',
  ];
  for (const r of results.rows) {
    const med = r.p95 !== undefined ? `${fmt(r.median, r.unit)} (p95 ${fmt(r.p95, r.unit)})` : fmt(r.median, r.unit);
    const ref = r.reference ? `${r.reference}${r.referenceMedian !== undefined ? ` (${fmt(r.referenceMedian, r.unit)})` : ''}` : '';
    const ratio = r.ratio !== undefined ? fmtRatio(r.ratio) : '';
    const met = r.met === undefined ? (r.target ? 'n/a' : '') : r.met ? 'met' : '**NOT met**';
    lines.push(
      `| ${esc(r.group)} | ${esc(r.case)} | ${r.samples.length || ''} | ${med} | ${fmt(r.min, r.unit)} | ${fmt(r.max, r.unit)} | ${esc(ref)} | ${ratio} | ${esc(r.target ?? '')} | ${met} | ${esc(r.note)} |`,
    );
  }
  lines.push('', 'Reproduce: `sudo npm run bench -- --quick` (or without `--quick`; `--full` adds the QGIS main job). Raw samples and environment: the .json beside this file.', '');
  return lines.join('\n');
}

const xmlEsc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Horizontal bars (median, with a min-max whisker), one section per chart
 * group (bootstrap; publish per pool size). Log scale: dpkg-scanpackages and
 * the network bootstrap are 100x the fastest rows and would flatten the rest.
 */
export function svgChart(results, prefixes = ['bootstrap', 'publish']) {
  const width = 1000;
  const labelW = 470;
  const barMax = width - labelW - 130;
  const rowH = 22;
  let y = 40;
  const parts = [];
  for (const r of results.rows) {
    // Results saved before rows carried `chart`: the pool size is in the case text.
    if (r.chart === undefined && r.group === 'publish') r.chart = `publish, ${/(?:of|into|,) ([\d,]{3,})/.exec(r.case)?.[1] ?? '?'} .debs`;
    // One-off setup rows and the second view of the same samples stay out of the chart.
    if (r.noChart === undefined) r.noChart = /^(first import|nspawn-kit mirror warm)|\(vs cp -a\)$/.test(r.case);
  }
  const sections = [...new Set(results.rows.map((r) => r.chart ?? r.group))].filter((c) => prefixes.some((p) => c.startsWith(p)));
  for (const section of sections) {
    const rows = results.rows.filter((r) => (r.chart ?? r.group) === section && r.unit === 's' && r.median !== undefined && !r.noChart);
    if (!rows.length) continue;
    const lo = Math.min(...rows.map((r) => r.min ?? r.median)) / 2;
    const hi = Math.max(...rows.map((r) => r.max ?? r.median));
    const pos = (v) => (Math.log(v / lo) / Math.log(hi / lo)) * barMax;
    parts.push(`<text x="10" y="${y}" font-size="15" font-weight="bold">${xmlEsc(section)}: seconds, median (bar) and min-max (whisker), log scale</text>`);
    y += 12;
    for (const r of rows) {
      const w = Math.max(1, pos(r.median));
      const x0 = labelW + pos(r.min ?? r.median);
      const x1 = labelW + pos(r.max ?? r.median);
      const ours = /nspawn-kit/.test(r.case);
      parts.push(
        `<text x="${labelW - 6}" y="${y + 15}" font-size="11" text-anchor="end">${xmlEsc(r.case.slice(0, 78))}</text>`,
        `<rect x="${labelW}" y="${y + 4}" width="${w.toFixed(1)}" height="${rowH - 8}" fill="${ours ? '#2b7bb9' : '#9aa5b1'}"/>`,
        `<line x1="${x0.toFixed(1)}" x2="${x1.toFixed(1)}" y1="${y + rowH / 2}" y2="${y + rowH / 2}" stroke="#222" stroke-width="1"/>`,
        `<text x="${(labelW + Math.max(w, x1 - labelW) + 6).toFixed(1)}" y="${y + 15}" font-size="11">${fmtSeconds(r.median)}${r.ratio !== undefined ? ` (${fmtRatio(r.ratio)})` : ''}</text>`,
      );
      y += rowH;
    }
    y += 28;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="13">nspawn-kit benchmarks ${xmlEsc(results.date)}${results.quick ? ' (--quick)' : ''}: ${results.env.nproc} CPUs, ${xmlEsc(results.env.kernel)}; blue = nspawn-kit, grey = other tools; (ratio to the row's reference)</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function fmtSeconds(ms) {
  const s = ms / 1000;
  return `${s >= 10 ? s.toFixed(1) : s >= 0.1 ? s.toFixed(2) : s.toFixed(3)} s`;
}

/** Two decimals, or two significant digits below 0.1x (a 0.005x ratio must not read "0.00x"). */
function fmtRatio(ratio) {
  return ratio > 0 && ratio < 0.1 ? `${ratio.toPrecision(2)}x` : `${ratio.toFixed(2)}x`;
}
