#!/usr/bin/env node
// test/validator/oracle.js: build the validation corpus and run the oracle.
//
//   node oracle.js --repo DIR --shared DIR --out corpus.jsonl
//
// The corpus (one JSON object a line: id, source, mutation, site,
// check_arn, definition, oracle) is:
//   * fixed refusals: shared/conformance/invalid/*.json and the invalid
//     fixtures of asl-validator's own test suite (test/validator/upstream/,
//     copied from its repository at tag 4.0.0: the npm package ships none);
//   * valid definitions ("base"): shared/conformance/cases/*.json, the
//     demo's definitions (demo/seed_definition.json and the ones in
//     demo/order_fulfillment.sql), the seed (test/validator/sources/) and
//     hand-written definitions there that use every state type and field;
//   * mutations of every valid definition (MUTATIONS below), each applied
//     at the first fitting state of the top-level machine and at the first
//     fitting state of a nested one (Parallel branch, Map processor).
// Every definition is validated by asl-validator (the pinned version in
// package-lock.json) in this one process.  check_arn: asl-validator checks
// that Resource is an ARN; orderflow's Resource names a SQL function or a
// string bound with register_resource, so the check is on only for the
// upstream fixtures (as asl-validator's own tests run them).
'use strict';

const fs = require('fs');
const path = require('path');

// asl-validator builds a new Ajv and compiles all its JSON schemas again for
// every definition it checks: about a second each, half an hour for this
// corpus.  Its module reads require('ajv').default at each call, so we hand
// it a stand-in that gives out one Ajv per option set (ARN check on or off,
// set by oracle() before each call): the first time it is set up by
// asl-validator's own code as usual, later its setup calls (which would
// register the very same formats and keywords again) are skipped and the
// compiled schemas are reused.  selfCheck() compares a sample with
// asl-validator's unshared path on every run.
const ajvModule = require('ajv');
const RealAjv = ajvModule.default;
const shared = new Map();
let ajvKey = null;        // null: no sharing (selfCheck)
function SharedAjv(opts) {
  if (ajvKey === null) return new RealAjv(opts);
  const known = shared.get(ajvKey);
  if (known) return known;
  const real = new RealAjv(opts);
  const setup = new Set(['addFormat', 'addKeyword', 'addVocabulary', 'addSchema', 'addMetaSchema']);
  let ready = false;
  const proxy = new Proxy(real, {
    get(target, prop) {
      if (ready && setup.has(prop)) return () => proxy;
      const v = Reflect.get(target, prop);
      if (prop === 'validate') return (...a) => { ready = true; return v.apply(target, a); };
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  shared.set(ajvKey, proxy);
  return proxy;
}
ajvModule.default = SharedAjv;
const validator = require('asl-validator');
let shareAjv = true;

function usage(msg) {
  process.stderr.write(`oracle.js: ${msg}\nusage: node oracle.js --repo DIR --shared DIR --out FILE\n`);
  process.exit(2);
}

const args = {};
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i];
  if (!['--repo', '--shared', '--out'].includes(k) || i + 1 >= process.argv.length) usage(`bad argument ${k}`);
  args[k.slice(2)] = process.argv[i + 1];
}
if (!args.repo || !args.out) usage('--repo and --out are required');

const clone = (v) => JSON.parse(JSON.stringify(v));
const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
const listJson = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort() : []);

// ------------------------------------------------------------ sources ---

const fixed = [];   // {id, source, definition}
const bases = [];   // {id, source, definition}

function addBase(id, source, definition) {
  if (definition && typeof definition === 'object' && definition.States) bases.push({ id, source, definition });
}

if (args.shared) {
  const inv = path.join(args.shared, 'conformance', 'invalid');
  for (const f of listJson(inv)) {
    fixed.push({ id: `conformance-invalid:${path.basename(f, '.json')}`, source: `conformance/invalid/${f}`, definition: readJson(path.join(inv, f)).definition });
  }
  const cases = path.join(args.shared, 'conformance', 'cases');
  for (const f of listJson(cases)) {
    addBase(`case:${path.basename(f, '.json')}`, `conformance/cases/${f}`, readJson(path.join(cases, f)).definition);
  }
}
const upstream = path.join(args.repo, 'test', 'validator', 'upstream');
for (const f of listJson(upstream)) {
  if (!f.startsWith('invalid-')) continue;
  // asl-validator reads them with JSON.parse (duplicate keys: the last wins)
  fixed.push({ id: `upstream:${f.replace(/(\.asl)?\.json$/, '')}`, source: `test/validator/upstream/${f}`, definition: readJson(path.join(upstream, f)) });
}
const sources = path.join(args.repo, 'test', 'validator', 'sources');
for (const f of listJson(sources)) {
  addBase(`source:${f.replace(/(\.asl)?\.json$/, '')}`, `test/validator/sources/${f}`, readJson(path.join(sources, f)));
}
const demo = path.join(args.repo, 'demo');
if (fs.existsSync(path.join(demo, 'seed_definition.json'))) {
  addBase('demo:seed_definition', 'demo/seed_definition.json', readJson(path.join(demo, 'seed_definition.json')));
}
if (fs.existsSync(path.join(demo, 'order_fulfillment.sql'))) {
  const sql = fs.readFileSync(path.join(demo, 'order_fulfillment.sql'), 'utf8');
  const re = /\$(\w+)\$\s*(\{[\s\S]*?\})\s*\$\1\$/g;
  let m;
  while ((m = re.exec(sql)) !== null) {
    let d;
    try { d = JSON.parse(m[2]); } catch (e) { continue; }
    if (d.StartAt && d.States) addBase(`demo:${m[1]}`, 'demo/order_fulfillment.sql', d);
  }
}

// ----------------------------------------------------------- sites ---

// Every machine of a definition: {obj, nested} (nested: in a branch/Map)
function machines(def) {
  const out = [];
  const walk = (m, nested) => {
    if (!m || typeof m !== 'object' || !m.States || typeof m.States !== 'object') return;
    out.push({ obj: m, nested });
    for (const st of Object.values(m.States)) {
      if (!st || typeof st !== 'object') continue;
      if (Array.isArray(st.Branches)) st.Branches.forEach((b) => walk(b, true));
      if (st.ItemProcessor) walk(st.ItemProcessor, true);
      if (st.Iterator) walk(st.Iterator, true);
    }
  };
  walk(def, false);
  return out;
}

// The sites (machine, state name) where a mutation fits: at most the first
// top-level one and the first nested one, in document order.
function sites(def, fits) {
  const found = [];
  let top = false;
  let nested = false;
  for (const m of machines(def)) {
    if ((m.nested && nested) || (!m.nested && top)) continue;
    for (const name of Object.keys(m.obj.States)) {
      const st = m.obj.States[name];
      if (st && typeof st === 'object' && fits(st, m.obj, name)) {
        found.push({ machine: m.obj, name, nested: m.nested });
        if (m.nested) nested = true; else top = true;
        break;
      }
    }
  }
  return found;
}

const is = (...types) => (st) => types.includes(st.Type);
const WORK = is('Task', 'Parallel', 'Map');
const FLOW = is('Task', 'Pass', 'Wait', 'Parallel', 'Map');
const has = (field, pred = () => true) => (st) => field in st && pred(st);

// Rename a state of machine m and every transition to it inside m
function renameState(m, from, to) {
  const states = {};
  for (const [k, v] of Object.entries(m.States)) states[k === from ? to : k] = v;
  m.States = states;
  if (m.StartAt === from) m.StartAt = to;
  for (const st of Object.values(states)) {
    if (!st || typeof st !== 'object') continue;
    if (st.Next === from) st.Next = to;
    if (st.Default === from) st.Default = to;
    for (const c of Array.isArray(st.Choices) ? st.Choices : []) if (c && c.Next === from) c.Next = to;
    for (const c of Array.isArray(st.Catch) ? st.Catch : []) if (c && c.Next === from) c.Next = to;
  }
}

// A name used by a state outside machine m (for duplicate names)
function outsideName(def, m) {
  for (const other of machines(def)) {
    if (other.obj === m) continue;
    const names = Object.keys(other.obj.States).filter((n) => !(n in m.States));
    if (names.length) return names[0];
  }
  return null;
}

// ------------------------------------------------------- mutations ---
//
// state(st, m, name, def): change the state in place (a clone of the
// definition); returning false means "does not apply after all".
// whole(def): change the whole definition.

const OK_RETRIER = () => ({ ErrorEquals: ['States.TaskFailed'], IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 2 });
// a retrier / catcher put before the state's own ones (which keep the
// states they catch into reachable, and States.ALL last)
const withRetrier = (change) => (st) => {
  const r = OK_RETRIER(); change(r); st.Retry = [r, ...(Array.isArray(st.Retry) ? st.Retry : [])];
};
const withCatcher = (change) => (st, m, name) => {
  const c = { ErrorEquals: ['Oracle.Mutation'], Next: name };
  change(c, m, name);
  st.Catch = [c, ...(Array.isArray(st.Catch) ? st.Catch : [])];
};
const firstRule = (st) => st.Choices[0];

const M = [];
const stateMut = (name, fits, change) => M.push({ name, fits, change });
const wholeMut = (name, change) => M.push({ name, whole: change });

// controls: changes both validators must accept
stateMut('add-retry-ok', WORK, withRetrier(() => {}));
stateMut('add-catch-ok', WORK, withCatcher(() => {}));
stateMut('add-comment-ok', () => true, (st) => { st.Comment = 'a comment'; });

// transitions
stateMut('remove-next', (st) => 'Next' in st && st.Type !== 'Choice', (st) => { delete st.Next; });
stateMut('remove-end', has('End'), (st) => { delete st.End; });
stateMut('next-unknown-state', has('Next'), (st) => { st.Next = 'NoSuchState'; });
stateMut('next-number', has('Next'), (st) => { st.Next = 42; });
stateMut('next-and-end', has('Next'), (st) => { st.End = true; });
stateMut('end-false', has('End'), (st) => { st.End = false; });
stateMut('end-string', has('End'), (st) => { st.End = 'true'; });
M.push({
  name: 'next-outside-machine',
  fits: (st) => 'End' in st && FLOW(st),
  nestedOnly: true,
  change: (st, m, name, def) => { delete st.End; st.Next = def.StartAt; return !(def.StartAt in m.States); },
});

// Catch
stateMut('catch-next-unknown-state', WORK, withCatcher((c) => { c.Next = 'NoSuchState'; }));
stateMut('catch-without-next', WORK, withCatcher((c) => { delete c.Next; }));
stateMut('catch-next-number', WORK, withCatcher((c) => { c.Next = 7; }));
stateMut('catch-unknown-field', WORK, withCatcher((c) => { c.Retries = 1; }));
stateMut('catch-errorequals-missing', WORK, withCatcher((c) => { delete c.ErrorEquals; }));
stateMut('catch-errorequals-empty', WORK, withCatcher((c) => { c.ErrorEquals = []; }));
stateMut('catch-errorequals-string', WORK, withCatcher((c) => { c.ErrorEquals = 'States.ALL'; }));
stateMut('catch-errorequals-number', WORK, withCatcher((c) => { c.ErrorEquals = [500]; }));
stateMut('catch-all-not-alone', WORK, withCatcher((c) => { c.ErrorEquals = ['States.ALL', 'States.Timeout']; }));
stateMut('catch-all-not-last', WORK, (st, m, name) => {
  st.Catch = [{ ErrorEquals: ['States.ALL'], Next: name }, { ErrorEquals: ['States.Timeout'], Next: name }, ...(st.Catch || [])];
});
stateMut('catch-resultpath-number', WORK, withCatcher((c) => { c.ResultPath = 5; }));
stateMut('catch-resultpath-invalid', WORK, withCatcher((c) => { c.ResultPath = 'error'; }));
stateMut('catch-not-array', WORK, (st, m, name) => { st.Catch = { ErrorEquals: ['States.ALL'], Next: name }; });
stateMut('catch-on-pass', is('Pass'), (st, m, name) => { st.Catch = [{ ErrorEquals: ['States.ALL'], Next: name }]; });

// Retry
stateMut('retry-interval-zero', WORK, withRetrier((r) => { r.IntervalSeconds = 0; }));
stateMut('retry-interval-negative', WORK, withRetrier((r) => { r.IntervalSeconds = -1; }));
stateMut('retry-interval-fraction', WORK, withRetrier((r) => { r.IntervalSeconds = 1.5; }));
stateMut('retry-interval-string', WORK, withRetrier((r) => { r.IntervalSeconds = '1'; }));
stateMut('retry-interval-huge', WORK, withRetrier((r) => { r.IntervalSeconds = 100000000; }));
stateMut('retry-maxattempts-negative', WORK, withRetrier((r) => { r.MaxAttempts = -1; }));
stateMut('retry-maxattempts-fraction', WORK, withRetrier((r) => { r.MaxAttempts = 2.5; }));
stateMut('retry-maxattempts-string', WORK, withRetrier((r) => { r.MaxAttempts = '3'; }));
stateMut('retry-maxattempts-huge', WORK, withRetrier((r) => { r.MaxAttempts = 100000000; }));
stateMut('retry-backoff-below-one', WORK, withRetrier((r) => { r.BackoffRate = 0.5; }));
stateMut('retry-backoff-string', WORK, withRetrier((r) => { r.BackoffRate = '2'; }));
stateMut('retry-maxdelay-zero', WORK, withRetrier((r) => { r.MaxDelaySeconds = 0; }));
stateMut('retry-maxdelay-string', WORK, withRetrier((r) => { r.MaxDelaySeconds = '5'; }));
stateMut('retry-jitter-invalid', WORK, withRetrier((r) => { r.JitterStrategy = 'SOME'; }));
stateMut('retry-unknown-field', WORK, withRetrier((r) => { r.Attempts = 3; }));
stateMut('retry-errorequals-missing', WORK, withRetrier((r) => { delete r.ErrorEquals; }));
stateMut('retry-errorequals-empty', WORK, withRetrier((r) => { r.ErrorEquals = []; }));
stateMut('retry-all-not-last', WORK, (st) => {
  st.Retry = [{ ErrorEquals: ['States.ALL'] }, { ErrorEquals: ['States.Timeout'] }, ...(st.Retry || [])];
});
stateMut('retry-not-array', WORK, (st) => { st.Retry = OK_RETRIER(); });
stateMut('retry-on-choice', is('Choice'), (st) => { st.Retry = [OK_RETRIER()]; });

// the machine
wholeMut('startat-unknown-state', (d) => { d.StartAt = 'NoSuchState'; });
wholeMut('startat-missing', (d) => { delete d.StartAt; });
wholeMut('startat-number', (d) => { d.StartAt = 1; });
wholeMut('states-missing', (d) => { delete d.States; });
wholeMut('states-empty', (d) => { d.States = {}; });
wholeMut('states-array', (d) => { d.States = Object.values(d.States); });
wholeMut('top-unknown-field', (d) => { d.Retries = 3; });
wholeMut('top-comment-number', (d) => { d.Comment = 1; });
wholeMut('top-version-number', (d) => { d.Version = 1.0; });
wholeMut('top-timeout-zero', (d) => { d.TimeoutSeconds = 0; });
wholeMut('top-timeout-negative', (d) => { d.TimeoutSeconds = -5; });
wholeMut('top-timeout-string', (d) => { d.TimeoutSeconds = '60'; });
wholeMut('top-timeout-fraction', (d) => { d.TimeoutSeconds = 1.5; });
wholeMut('querylanguage-unknown', (d) => { d.QueryLanguage = 'XPath'; });
wholeMut('querylanguage-jsonata', (d) => { d.QueryLanguage = 'JSONata'; });
// every End becomes a jump back to StartAt, Succeed and Fail become Pass
const dropTerminals = (m) => {
  for (const [name, st] of Object.entries(m.States)) {
    if (!st || typeof st !== 'object') continue;
    if (st.Type === 'Succeed' || st.Type === 'Fail') m.States[name] = { Type: 'Pass', Next: m.StartAt };
    else if (st.End === true) { delete st.End; st.Next = m.StartAt; }
  }
};
wholeMut('drop-every-terminal-state', (d) => { dropTerminals(d); });
wholeMut('drop-every-terminal-state-nested', (d) => {
  const nested = machines(d).filter((m) => m.nested);
  if (!nested.length) return false;
  dropTerminals(nested[0].obj);
});
wholeMut('add-unreachable-state', (d) => { d.States.Orphan = { Type: 'Succeed' }; });
wholeMut('add-unreachable-state-nested', (d) => {
  const nested = machines(d).filter((m) => m.nested);
  if (!nested.length) return false;
  nested[0].obj.States.OrphanInside = { Type: 'Succeed' };
});
wholeMut('duplicate-state-name-in-branch', (d) => {
  const nested = machines(d).filter((m) => m.nested);
  if (!nested.length) return false;
  const m = nested[0].obj;
  const dup = outsideName(d, m);
  if (!dup) return false;
  renameState(m, Object.keys(m.States)[0], dup);
});

// names and types of states
stateMut('state-name-too-long', () => true, (st, m, name) => { renameState(m, name, 'N'.repeat(81)); });
stateMut('state-name-empty', () => true, (st, m, name) => { renameState(m, name, ''); });
stateMut('state-name-80-ok', () => true, (st, m, name) => { renameState(m, name, 'N'.repeat(80)); });
stateMut('state-not-object', () => true, (st, m, name) => { m.States[name] = 'Pass'; });
stateMut('type-missing', () => true, (st) => { delete st.Type; });
stateMut('type-unknown', () => true, (st) => { st.Type = 'Lambda'; });
stateMut('type-number', () => true, (st) => { st.Type = 3; });
stateMut('type-lowercase', () => true, (st) => { st.Type = st.Type.toLowerCase(); });
stateMut('state-unknown-field', () => true, (st) => { st.Retries = 1; });
stateMut('state-field-wrong-case', () => true, (st) => { st.comment = 'x'; });
stateMut('comment-number', () => true, (st) => { st.Comment = 5; });
stateMut('state-querylanguage-jsonata', () => true, (st) => { st.QueryLanguage = 'JSONata'; });
stateMut('state-querylanguage-unknown', () => true, (st) => { st.QueryLanguage = 'XPath'; });

// paths and templates
const IO = (st) => st.Type !== 'Fail';
const RESULT = is('Task', 'Pass', 'Parallel', 'Map');
stateMut('inputpath-number', IO, (st) => { st.InputPath = 1; });
stateMut('inputpath-not-a-path', IO, (st) => { st.InputPath = 'order.id'; });
stateMut('inputpath-bad-syntax', IO, (st) => { st.InputPath = '$.a[?('; });
stateMut('outputpath-not-a-path', IO, (st) => { st.OutputPath = 'order'; });
stateMut('outputpath-object', IO, (st) => { st.OutputPath = { a: 1 }; });
stateMut('resultpath-number', RESULT, (st) => { st.ResultPath = 2; });
stateMut('resultpath-not-a-path', RESULT, (st) => { st.ResultPath = 'result'; });
stateMut('resultpath-context', RESULT, (st) => { st.ResultPath = '$$.Execution.Id'; });
stateMut('resultpath-wildcard', RESULT, (st) => { st.ResultPath = '$.a[*]'; });
stateMut('parameters-bad-path', is('Task', 'Pass', 'Parallel'), (st) => { st.Parameters = { 'id.$': 'order.id' }; });
stateMut('parameters-bad-intrinsic', is('Task', 'Pass', 'Parallel'), (st) => { st.Parameters = { 'id.$': 'States.NoSuchFunction($.a)' }; });
stateMut('parameters-path-not-string', is('Task', 'Pass', 'Parallel'), (st) => { st.Parameters = { 'id.$': 5 }; });
stateMut('parameters-duplicate-field', is('Task', 'Pass', 'Parallel'), (st) => { st.Parameters = { id: 1, 'id.$': '$.id' }; });
stateMut('parameters-on-succeed', is('Succeed'), (st) => { st.Parameters = { a: 1 }; });
stateMut('resultselector-on-pass', is('Pass'), (st) => { st.ResultSelector = { a: 1 }; });
stateMut('resultselector-bad-path', WORK, (st) => { st.ResultSelector = { 'a.$': 'nope' }; });
stateMut('assign-bad-variable-name', IO, (st) => { st.Assign = { '1st': 1 }; });
stateMut('assign-not-object', IO, (st) => { st.Assign = 'x'; });
stateMut('assign-on-fail', is('Fail'), (st) => { st.Assign = { a: 1 }; });
stateMut('assign-bad-path', IO, (st) => { st.Assign = { 'a.$': 'not a path' }; });

// Task
const TASK = is('Task');
stateMut('resource-missing', TASK, (st) => { delete st.Resource; });
stateMut('resource-number', TASK, (st) => { st.Resource = 12; });
stateMut('resource-empty', TASK, (st) => { st.Resource = ''; });
stateMut('resource-unknown-function', TASK, (st) => { st.Resource = 'validator_missing.no_such_function'; });
stateMut('resource-unregistered-lambda-arn', TASK, (st) => { st.Resource = 'arn:aws:lambda:us-east-1:123456789012:function:NotRegistered'; });
stateMut('resource-activity-arn', TASK, (st) => { st.Resource = 'arn:aws:states:us-east-1:123456789012:activity:NotRegistered'; });
stateMut('resource-sync-integration', TASK, (st) => { st.Resource = 'arn:aws:states:::states:startExecution.sync'; });
stateMut('resource-service-integration', TASK, (st) => { st.Resource = 'arn:aws:states:::dynamodb:putItem'; });
stateMut('timeout-zero', TASK, (st) => { st.TimeoutSeconds = 0; delete st.TimeoutSecondsPath; });
stateMut('timeout-negative', TASK, (st) => { st.TimeoutSeconds = -3; delete st.TimeoutSecondsPath; });
stateMut('timeout-fraction', TASK, (st) => { st.TimeoutSeconds = 2.5; delete st.TimeoutSecondsPath; });
stateMut('timeout-string', TASK, (st) => { st.TimeoutSeconds = '30'; delete st.TimeoutSecondsPath; });
stateMut('timeout-huge', TASK, (st) => { st.TimeoutSeconds = 100000000; delete st.TimeoutSecondsPath; });
stateMut('timeout-both-forms', TASK, (st) => { st.TimeoutSeconds = 30; st.TimeoutSecondsPath = '$.t'; });
stateMut('timeoutpath-not-a-path', TASK, (st) => { delete st.TimeoutSeconds; st.TimeoutSecondsPath = 't'; });
stateMut('heartbeat-zero', TASK, (st) => { st.HeartbeatSeconds = 0; delete st.HeartbeatSecondsPath; });
stateMut('heartbeat-string', TASK, (st) => { st.HeartbeatSeconds = '5'; delete st.HeartbeatSecondsPath; });
stateMut('heartbeat-not-below-timeout', TASK, (st) => {
  st.TimeoutSeconds = 10; st.HeartbeatSeconds = 10;
  delete st.TimeoutSecondsPath; delete st.HeartbeatSecondsPath;
});
stateMut('heartbeat-both-forms', TASK, (st) => { st.HeartbeatSeconds = 5; st.HeartbeatSecondsPath = '$.h'; });
stateMut('credentials', TASK, (st) => { st.Credentials = { RoleArn: 'arn:aws:iam::123456789012:role/Other' }; });
stateMut('resource-on-pass', is('Pass'), (st) => { st.Resource = 'x.y'; });
stateMut('seconds-on-task', TASK, (st) => { st.Seconds = 5; });

// Choice
const CHOICE = is('Choice');
stateMut('choices-missing', CHOICE, (st) => { delete st.Choices; });
stateMut('choices-empty', CHOICE, (st) => { st.Choices = []; });
stateMut('choices-object', CHOICE, (st) => { st.Choices = st.Choices[0]; });
stateMut('choice-rule-without-next', CHOICE, (st) => { delete firstRule(st).Next; });
stateMut('choice-rule-next-unknown', CHOICE, (st) => { firstRule(st).Next = 'NoSuchState'; });
stateMut('choice-default-unknown', CHOICE, (st) => { st.Default = 'NoSuchState'; });
stateMut('choice-default-number', CHOICE, (st) => { st.Default = 1; });
stateMut('choice-with-next', CHOICE, (st, m, name) => { st.Next = name; });
stateMut('choice-with-end', CHOICE, (st) => { st.End = true; });
stateMut('choice-rule-two-operators', CHOICE, (st) => {
  Object.assign(firstRule(st), { Variable: '$.x', StringEquals: 'a', NumericEquals: 1 });
  for (const k of Object.keys(firstRule(st))) if (['And', 'Or', 'Not'].includes(k)) delete firstRule(st)[k];
});
stateMut('choice-rule-no-operator', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Variable: '$.x', Next: r.Next }; });
stateMut('choice-rule-no-variable', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { StringEquals: 'a', Next: r.Next }; });
stateMut('choice-rule-unknown-operator', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Variable: '$.x', StringContains: 'a', Next: r.Next }; });
stateMut('choice-string-operand-number', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Variable: '$.x', StringEquals: 1, Next: r.Next }; });
stateMut('choice-numeric-operand-string', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Variable: '$.x', NumericLessThan: '5', Next: r.Next }; });
stateMut('choice-boolean-operand-string', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Variable: '$.x', BooleanEquals: 'true', Next: r.Next }; });
stateMut('choice-ispresent-string', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Variable: '$.x', IsPresent: 'yes', Next: r.Next }; });
stateMut('choice-timestamp-invalid', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Variable: '$.x', TimestampEquals: 'yesterday', Next: r.Next }; });
stateMut('choice-variable-not-a-path', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Variable: 'x', IsPresent: true, Next: r.Next }; });
stateMut('choice-operand-path-invalid', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Variable: '$.x', StringEqualsPath: 'y', Next: r.Next }; });
stateMut('choice-and-empty', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { And: [], Next: r.Next }; });
stateMut('choice-and-object', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { And: { Variable: '$.x', IsPresent: true }, Next: r.Next }; });
stateMut('choice-not-array', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Not: [{ Variable: '$.x', IsPresent: true }], Next: r.Next }; });
stateMut('choice-nested-next', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Not: { Variable: '$.x', IsPresent: true, Next: r.Next }, Next: r.Next }; });
stateMut('choice-and-with-variable', CHOICE, (st) => { const r = firstRule(st); st.Choices[0] = { Variable: '$.x', And: [{ Variable: '$.x', IsPresent: true }], Next: r.Next }; });
stateMut('choice-rule-unknown-field', CHOICE, (st) => { firstRule(st).Label = 'x'; });

// Wait
const WAIT = is('Wait');
const waitOnly = (st, f, v) => { for (const k of ['Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath']) delete st[k]; st[f] = v; };
stateMut('wait-seconds-negative', WAIT, (st) => waitOnly(st, 'Seconds', -1));
stateMut('wait-seconds-fraction', WAIT, (st) => waitOnly(st, 'Seconds', 0.5));
stateMut('wait-seconds-string', WAIT, (st) => waitOnly(st, 'Seconds', '10'));
stateMut('wait-seconds-huge', WAIT, (st) => waitOnly(st, 'Seconds', 100000000));
stateMut('wait-timestamp-invalid', WAIT, (st) => waitOnly(st, 'Timestamp', 'tomorrow'));
stateMut('wait-timestamp-no-zone', WAIT, (st) => waitOnly(st, 'Timestamp', '2030-01-01T00:00:00'));
stateMut('wait-timestamp-number', WAIT, (st) => waitOnly(st, 'Timestamp', 1700000000));
stateMut('wait-secondspath-not-a-path', WAIT, (st) => waitOnly(st, 'SecondsPath', 'seconds'));
stateMut('wait-no-duration', WAIT, (st) => { for (const k of ['Seconds', 'SecondsPath', 'Timestamp', 'TimestampPath']) delete st[k]; });
stateMut('wait-two-durations', WAIT, (st) => { waitOnly(st, 'Seconds', 1); st.TimestampPath = '$.t'; });

// Fail and Succeed
stateMut('fail-with-next', is('Fail'), (st, m) => { st.Next = m.StartAt; });
stateMut('fail-with-end', is('Fail'), (st) => { st.End = true; });
stateMut('fail-error-number', is('Fail'), (st) => { delete st.ErrorPath; st.Error = 500; });
stateMut('fail-cause-object', is('Fail'), (st) => { delete st.CausePath; st.Cause = { a: 1 }; });
stateMut('fail-error-both-forms', is('Fail'), (st) => { st.Error = 'E'; st.ErrorPath = '$.e'; });
stateMut('fail-cause-both-forms', is('Fail'), (st) => { st.Cause = 'C'; st.CausePath = '$.c'; });
stateMut('fail-errorpath-invalid', is('Fail'), (st) => { delete st.Error; st.ErrorPath = 'error'; });
stateMut('fail-with-inputpath', is('Fail'), (st) => { st.InputPath = '$'; });
stateMut('fail-with-resultpath', is('Fail'), (st) => { st.ResultPath = '$.r'; });
stateMut('succeed-with-next', is('Succeed'), (st, m) => { st.Next = m.StartAt; });
stateMut('succeed-with-end', is('Succeed'), (st) => { st.End = true; });
stateMut('succeed-with-resultpath', is('Succeed'), (st) => { st.ResultPath = '$.r'; });
stateMut('pass-result-ok', is('Pass'), (st) => { st.Result = { 'literal.$': 'not evaluated' }; });

// Parallel
const PAR = is('Parallel');
stateMut('branches-missing', PAR, (st) => { delete st.Branches; });
stateMut('branches-empty', PAR, (st) => { st.Branches = []; });
stateMut('branches-object', PAR, (st) => { st.Branches = st.Branches[0]; });
stateMut('branch-not-object', PAR, (st) => { st.Branches[0] = 'branch'; });
stateMut('branch-startat-missing', PAR, (st) => { delete st.Branches[0].StartAt; });
stateMut('branch-startat-unknown', PAR, (st) => { st.Branches[0].StartAt = 'NoSuchState'; });
stateMut('branch-states-empty', PAR, (st) => { st.Branches[0].States = {}; });
stateMut('branch-unknown-field', PAR, (st) => { st.Branches[0].Version = '1.0'; });
stateMut('branch-timeout-field', PAR, (st) => { st.Branches[0].TimeoutSeconds = 5; });

// Map
const MAP = is('Map');
const proc = (st) => st.ItemProcessor || st.Iterator;
stateMut('map-processor-missing', MAP, (st) => { delete st.ItemProcessor; delete st.Iterator; });
stateMut('map-processor-and-iterator', MAP, (st) => { st.ItemProcessor = clone(proc(st)); st.Iterator = clone(proc(st)); });
stateMut('map-processor-not-object', MAP, (st) => { if (st.ItemProcessor) st.ItemProcessor = []; else st.Iterator = []; });
stateMut('map-processor-startat-missing', MAP, (st) => { delete proc(st).StartAt; });
stateMut('map-processor-unknown-field', MAP, (st) => { proc(st).Mode = 'INLINE'; });
stateMut('map-processorconfig-mode-invalid', MAP, (st) => { st.ItemProcessor = clone(proc(st)); delete st.Iterator; st.ItemProcessor.ProcessorConfig = { Mode: 'PARALLEL' }; });
stateMut('map-processorconfig-unknown-field', MAP, (st) => { st.ItemProcessor = clone(proc(st)); delete st.Iterator; st.ItemProcessor.ProcessorConfig = { Mode: 'INLINE', Speed: 'fast' }; });
stateMut('map-maxconcurrency-negative', MAP, (st) => { delete st.MaxConcurrencyPath; st.MaxConcurrency = -1; });
stateMut('map-maxconcurrency-string', MAP, (st) => { delete st.MaxConcurrencyPath; st.MaxConcurrency = '4'; });
stateMut('map-maxconcurrency-fraction', MAP, (st) => { delete st.MaxConcurrencyPath; st.MaxConcurrency = 1.5; });
stateMut('map-maxconcurrency-both-forms', MAP, (st) => { st.MaxConcurrency = 1; st.MaxConcurrencyPath = '$.n'; });
stateMut('map-maxconcurrencypath-not-a-path', MAP, (st) => { delete st.MaxConcurrency; st.MaxConcurrencyPath = 'n'; });
stateMut('map-tolerated-percentage-over-100', MAP, (st) => { delete st.ToleratedFailurePercentagePath; st.ToleratedFailurePercentage = 101; });
stateMut('map-tolerated-percentage-negative', MAP, (st) => { delete st.ToleratedFailurePercentagePath; st.ToleratedFailurePercentage = -1; });
stateMut('map-tolerated-percentage-string', MAP, (st) => { delete st.ToleratedFailurePercentagePath; st.ToleratedFailurePercentage = '5'; });
stateMut('map-tolerated-count-negative', MAP, (st) => { delete st.ToleratedFailureCountPath; st.ToleratedFailureCount = -1; });
stateMut('map-tolerated-count-fraction', MAP, (st) => { delete st.ToleratedFailureCountPath; st.ToleratedFailureCount = 0.5; });
stateMut('map-tolerated-count-both-forms', MAP, (st) => { st.ToleratedFailureCount = 1; st.ToleratedFailureCountPath = '$.n'; });
stateMut('map-itemspath-not-a-path', MAP, (st) => { st.ItemsPath = 'items'; });
stateMut('map-itemspath-number', MAP, (st) => { st.ItemsPath = 3; });
stateMut('map-itemselector-and-parameters', MAP, (st) => { st.ItemSelector = { 'v.$': '$$.Map.Item.Value' }; st.Parameters = { 'v.$': '$$.Map.Item.Value' }; });
stateMut('map-itemselector-string', MAP, (st) => { delete st.Parameters; st.ItemSelector = 'item'; });
stateMut('map-label-number', MAP, (st) => { st.Label = 5; });
stateMut('map-itembatcher-string', MAP, (st) => { st.ItemBatcher = 'batch'; });
stateMut('map-itembatcher-ok', MAP, (st) => { st.ItemBatcher = { MaxItemsPerBatch: 2, BatchInput: { from: 'test' } }; });
stateMut('map-itembatcher-empty', MAP, (st) => { st.ItemBatcher = {}; });
stateMut('map-itembatcher-zero', MAP, (st) => { st.ItemBatcher = { MaxItemsPerBatch: 0 }; });
stateMut('map-itembatcher-limit-string', MAP, (st) => { st.ItemBatcher = { MaxItemsPerBatch: '5' }; });
stateMut('map-itembatcher-bytes-over-256k', MAP, (st) => { st.ItemBatcher = { MaxInputBytesPerBatch: 262145 }; });
stateMut('map-itembatcher-unknown-field', MAP, (st) => { st.ItemBatcher = { MaxItemsPerBatch: 2, BatchSize: 2 }; });
stateMut('map-itembatcher-path-form', MAP, (st) => { st.ItemBatcher = { MaxItemsPerBatchPath: '$.n' }; });
stateMut('map-itembatcher-batchinput-string', MAP, (st) => { st.ItemBatcher = { MaxItemsPerBatch: 2, BatchInput: 'x' }; });
stateMut('map-itemreader-string', MAP, (st) => { st.ItemReader = 'reader'; });
stateMut('map-resultwriter-string', MAP, (st) => { st.ResultWriter = 'writer'; });
stateMut('map-items-field', MAP, (st) => { st.Items = [1, 2]; });

// ---------------------------------------------------------- the run ---

// A definition asl-validator throws on (a state that is not an object, say)
// counts as refused: its command line exits non-zero (2) for it too.
function oracle(definition, checkArn) {
  let result;
  try {
    ajvKey = shareAjv ? (checkArn ? 'arn' : 'no-arn') : null;
    result = validator(clone(definition), { checkPaths: true, checkArn });
  } catch (e) {
    return { valid: false, threw: true, errors: [`asl-validator threw: ${String(e.message || e).split('\n')[0]}`] };
  }
  const { isValid, errors } = result;
  const texts = (errors || []).slice(0, 5).map((e) => (e['Error code']
    ? `${e['Error code']}: ${e.Message}` : `${e.instancePath || '/'} ${e.message}`));
  return { valid: isValid, errors: texts };
}

const corpus = [];
const seen = new Set();
function emit(entry) {
  const key = JSON.stringify(entry.definition);
  if (entry.mutation !== 'none' && seen.has(key)) return;   // a mutation that changed nothing new
  seen.add(key);
  // upstream fixtures are checked the way asl-validator's own tests do; the
  // rest without the ARN syntax check (README, "Differences from
  // asl-validator": orderflow binds Resource strings, it does not parse them)
  const checkArn = entry.source.startsWith('test/validator/upstream/');
  if (process.env.ORACLE_TRACE) process.stderr.write(`${entry.id}\n`);
  corpus.push({ ...entry, check_arn: checkArn, oracle: oracle(entry.definition, checkArn) });
}

for (const f of fixed) emit({ id: f.id, source: f.source, mutation: 'fixed', site: '', definition: f.definition });

for (const b of bases) {
  emit({ id: `${b.id}`, source: b.source, mutation: 'none', site: '', definition: b.definition });
  for (const mut of M) {
    if (mut.whole) {
      const d = clone(b.definition);
      if (mut.whole(d) === false) continue;
      emit({ id: `${b.id}/${mut.name}`, source: b.source, mutation: mut.name, site: '', definition: d });
      continue;
    }
    const probe = clone(b.definition);
    const found = sites(probe, mut.fits).filter((s) => !mut.nestedOnly || s.nested);
    for (const s of found) {
      // redo the search on a fresh clone so that each site gets its own copy
      const d = clone(b.definition);
      const again = sites(d, mut.fits).filter((x) => x.nested === s.nested && x.name === s.name)[0];
      if (!again) continue;
      if (mut.change(again.machine.States[again.name], again.machine, again.name, d) === false) continue;
      emit({ id: `${b.id}/${mut.name}@${s.nested ? 'nested' : 'top'}`, source: b.source, mutation: mut.name, site: `${s.nested ? 'nested' : 'top'}:${s.name}`, definition: d });
    }
  }
}

// The shared Ajv must not change a verdict: recheck a sample (every 400th
// definition, and the first ones) without it.
function selfCheck() {
  shareAjv = false;
  const sample = corpus.filter((e, i) => i < 3 || i % 400 === 0);
  for (const e of sample) {
    const again = oracle(e.definition, e.check_arn);
    if (JSON.stringify(again) !== JSON.stringify(e.oracle)) {
      process.stderr.write(`oracle.js: the shared Ajv changed the verdict on ${e.id}:\n  ${JSON.stringify(e.oracle)}\n  ${JSON.stringify(again)}\n`);
      process.exit(3);
    }
  }
  shareAjv = true;
  return sample.length;
}
const checked = selfCheck();

const out = fs.createWriteStream(args.out);
for (const e of corpus) out.write(`${JSON.stringify(e)}\n`);
out.end();
const refused = corpus.filter((e) => !e.oracle.valid).length;
process.stdout.write(`oracle: asl-validator ${require('asl-validator/package.json').version}, `
  + `${corpus.length} definitions (${fixed.length} fixed refusals, ${bases.length} valid sources, `
  + `${M.length} mutations), refused by the oracle: ${refused}; ${checked} rechecked without the shared Ajv\n`);
