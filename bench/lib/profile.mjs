#!/usr/bin/env node
// Where a CPU profile of `node --cpu-prof` spent its time (bench/rows --profile DIR writes one of
// `dbaas serve`): self time by part (dbaas's own code by folder, each npm package, node's
// internals, garbage collection, idle), then the functions with the most self time.
//
// usage: node bench/lib/profile.mjs FILE.cpuprofile [--top 25] [--json]
import { readFileSync } from 'node:fs';

// `... | head` closes the pipe early: that is the reader's choice.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const args = process.argv.slice(2);
const file = args.find((a) => a.endsWith('.cpuprofile'));
if (!file) {
  process.stderr.write('usage: node bench/lib/profile.mjs FILE.cpuprofile [--top 25] [--json]\n');
  process.exit(2);
}
const TOP = Number(args[args.indexOf('--top') + 1]) || 25;
const profile = JSON.parse(readFileSync(file, 'utf8'));

// Self time per node: the sampling interval of each sample, credited to the node it hit.
const selfUs = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i + 1] ?? 0;
  selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + dt);
}

/** The part of the program a call frame belongs to. */
function partOf(frame) {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'gc';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)') return 'node (native)';
  if (!url) return 'node (native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `npm ${pkg[1]}`;
  const own = /\/dist\/([^/]+)\//.exec(url) ?? /\/dist\/([^/]+\.js)/.exec(url);
  if (own) return `dbaas ${own[1]}`;
  if (url.startsWith('node:')) return `node ${url.slice(5).split('/')[0]}`;
  return url;
}

const parts = new Map();
const functions = new Map();
let total = 0;
for (const node of profile.nodes) {
  const us = selfUs.get(node.id) ?? 0;
  if (!us) continue;
  total += us;
  const part = partOf(node.callFrame);
  parts.set(part, (parts.get(part) ?? 0) + us);
  const where = node.callFrame.url ? `${node.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${node.callFrame.lineNumber + 1}` : '';
  const name = `${node.callFrame.functionName || '(anonymous)'} ${where}`.trim();
  functions.set(name, (functions.get(name) ?? 0) + us);
}
const busy = total - (parts.get('idle') ?? 0);
const rows = (map, n) =>
  [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => ({ name, ms: Math.round(us / 1000), ofBusy: name === 'idle' ? null : Math.round((us / busy) * 1000) / 10 }));

const result = { file, totalMs: Math.round(total / 1000), busyMs: Math.round(busy / 1000), parts: rows(parts, 40), functions: rows(functions, TOP) };
if (args.includes('--json')) {
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
} else {
  process.stdout.write(`${file}: ${result.totalMs} ms sampled, ${result.busyMs} ms busy\n\nself time by part (% of busy)\n`);
  for (const r of result.parts) process.stdout.write(`  ${String(r.ms).padStart(7)} ms  ${r.ofBusy === null ? '      ' : `${r.ofBusy.toFixed(1).padStart(5)}%`}  ${r.name}\n`);
  process.stdout.write(`\nfunctions with the most self time\n`);
  for (const r of result.functions) process.stdout.write(`  ${String(r.ms).padStart(7)} ms  ${r.ofBusy.toFixed(1).padStart(5)}%  ${r.name}\n`);
}
