#!/usr/bin/env node
// test/validator/compare.js: compare orderflow's verdicts with the oracle's.
//
//   node compare.js --corpus corpus.jsonl --results results.jsonl --readme README.md
//
// One test per definition of the corpus; it passes when
//   * orderflow.validate_definition and create_state_machine agree (both
//     refuse or both accept), and a refusal is a proper error: SQLSTATE
//     22023, a message, a DETAIL whose every line is "ERROR|WARNING at
//     <JSON pointer>: ..." and a HINT "At <JSON pointer>: <the fix> ...";
//   * orderflow and asl-validator agree, or they differ the way a row of
//     README.md's "Differences from asl-validator" table declares for that
//     mutation (or fixed definition): "orderflow refuses" (asl-validator
//     accepts) or "orderflow accepts" (asl-validator refuses).
// One more test per declared difference: it must still happen somewhere in
// the corpus (a stale row fails).  Prints a line per failure and ends with
// "N passed, M failed".
'use strict';

const fs = require('fs');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
for (const k of ['corpus', 'results', 'readme']) {
  if (!args[k]) { process.stderr.write('usage: node compare.js --corpus F --results F --readme README.md\n'); process.exit(2); }
}

const lines = (f) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
const corpus = lines(args.corpus);
const results = new Map(lines(args.results).map((r) => [r.id, r]));

// ---- the declared differences: README.md, section "Differences from asl-validator"
const readme = fs.readFileSync(args.readme, 'utf8').split('\n');
const start = readme.findIndex((l) => /^#+ Differences from asl-validator\s*$/.test(l));
if (start < 0) { console.log('README.md has no "Differences from asl-validator" section'); console.log('0 passed, 1 failed'); process.exit(1); }
const declared = new Map();     // key -> {direction, seen}
let bad = 0;
for (let i = start + 1; i < readme.length && !/^#+ /.test(readme[i]); i++) {
  const m = /^\|\s*`([^`]+)`\s*\|\s*(orderflow refuses|orderflow accepts)\s*\|/.exec(readme[i]);
  if (!m) continue;
  for (const key of m[1].split(/\s*,\s*/)) {
    if (declared.has(key)) { console.log(`README.md declares ${key} twice`); bad++; }
    declared.set(key, { direction: m[2], seen: 0 });
  }
}

let passed = 0;
let failed = bad;
const tally = { agreeRefused: 0, agreeAccepted: 0, differences: 0 };
// failures are printed grouped (by mutation and kind), three examples each
const groups = new Map();
const fail = (e, why, kind = 'other') => {
  failed++;
  const key = `${e.mutation} / ${kind}`;
  const g = groups.get(key) || { n: 0, examples: [] };
  g.n++;
  if (g.examples.length < 3) g.examples.push(`${e.id}: ${why}`);
  groups.set(key, g);
};

const LOCATION_LINE = /^(ERROR|WARNING) at \/.*: .+ \([A-Z_]+\)$/;

function properError(r) {
  if (r.sqlstate !== '22023') return `create_state_machine raised SQLSTATE ${r.sqlstate}, not 22023 (${r.message})`;
  if (!r.message) return 'the error has no message';
  if (!r.hint || !/^At \/.*: .+ orderflow\.validate_definition/.test(r.hint)) return `the HINT does not say how to fix the first problem: ${JSON.stringify(r.hint)}`;
  const detail = (r.detail || '').split('\n');
  if (!detail.length || !detail.every((l) => LOCATION_LINE.test(l))) return `a DETAIL line has no JSON location: ${JSON.stringify(r.detail)}`;
  if (!detail.some((l) => l.startsWith('ERROR at /'))) return `the DETAIL lists no ERROR: ${JSON.stringify(r.detail)}`;
  return null;
}

for (const e of corpus) {
  const r = results.get(e.id);
  if (!r) { fail(e, 'orderflow gave no verdict'); continue; }
  if (r.load_error) { fail(e, `the definition could not be loaded as jsonb: ${r.load_error}`); continue; }
  if (r.validate_error) { fail(e, `validate_definition raised ${r.validate_error}`); continue; }
  if (r.refused === r.created) {
    fail(e, `validate_definition ${r.refused ? 'refused' : 'accepted'} it but create_state_machine ${r.created ? 'created' : 'refused'} it (${r.message || ''})`);
    continue;
  }
  if (r.refused) {
    const why = properError(r);
    if (why) { fail(e, why); continue; }
  }
  const oracleRefused = !e.oracle.valid;
  if (oracleRefused === r.refused) {
    if (r.refused) tally.agreeRefused++; else tally.agreeAccepted++;
    passed++;
    continue;
  }
  const direction = r.refused ? 'orderflow refuses' : 'orderflow accepts';
  const d = declared.get(e.mutation) || declared.get(e.id);
  if (d && d.direction === direction) {
    d.seen++;
    tally.differences++;
    passed++;
    continue;
  }
  fail(e, `undeclared difference: ${direction}, asl-validator ${oracleRefused ? 'refuses' : 'accepts'}`
    + ` (mutation ${e.mutation}${e.site ? ` at ${e.site}` : ''}; asl-validator: ${JSON.stringify(e.oracle.errors.slice(0, 2))};`
    + ` orderflow: ${JSON.stringify((r.codes || []).slice(0, 3))} ${JSON.stringify((r.locations || []).slice(0, 3))})`, direction);
}

for (const [key, g] of groups) {
  console.log(`FAIL ${key}: ${g.n} definitions`);
  for (const x of g.examples) console.log(`    ${x}`);
}

for (const [key, d] of declared) {
  if (d.seen > 0) { passed++; console.log(`difference ${key}: ${d.direction}, ${d.seen} definitions`); }
  else { failed++; console.log(`FAIL difference ${key}: declared in README.md (${d.direction}) but no definition of the corpus shows it`); }
}

console.log(`validator: ${corpus.length} definitions; both refuse ${tally.agreeRefused}, both accept ${tally.agreeAccepted}, `
  + `declared differences ${tally.differences} (${declared.size} rows)`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
