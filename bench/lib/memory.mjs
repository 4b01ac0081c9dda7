/**
 * Case 4: peak memory of every nspawn-kit process measured. Each operation
 * ran in its own child; node's own maxRSS is the figure, the process tree's
 * peak (/usr/bin/time %M: the largest of node and the tools it ran) is noted.
 */
import { row } from './util.mjs';

export function memoryRows(memory) {
  const byOp = new Map();
  for (const [op, size, r] of memory) {
    const key = `${op}${size ? `, ${size}` : ''}`;
    const e = byOp.get(key) ?? { node: [], tree: [] };
    if (r.maxRssKb) e.node.push(r.maxRssKb);
    if (r.treeMaxRssKb) e.tree.push(r.treeMaxRssKb);
    byOp.set(key, e);
  }
  const rows = [];
  for (const [key, e] of byOp) {
    if (!e.node.length) continue;
    rows.push(
      row('memory', `peak RSS of the nspawn-kit process: ${key}`, e.node, {
        unit: 'MB',
        note: e.tree.length ? `largest process of its tree (time %M): ${(Math.max(...e.tree) / 1024).toFixed(1)} MB` : '',
      }),
    );
  }
  return rows;
}
