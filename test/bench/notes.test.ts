import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readNotes, renderNote } from '../../bench/notes.ts';
import { renderReport, type RunReport } from '../../bench/report.ts';

function report(date: string): RunReport {
  return {
    title: 'llmux benchmarks', date, settings: 'Full run, for a test.', notes: [], checks: [], cells: [], connections: [32], modes: ['json'],
    targets: ['direct', 'bare', 'llmux'], memory: [], ttfb: [], gaps: [], holds: [],
    machine: { node: 'v24.0.0', cpuModel: 'Test CPU', cores: 2, memGiB: 4 },
  } as unknown as RunReport;
}

const A = '2026-12-07 00:18 UTC';
const B = '2026-12-08 09:00 UTC';
const RUN = 'Read with care: the stream line was met by 0.01.\n\n- a list, kept as written';
const ANALYSIS = '## Where the time goes\n\nThe relay, mostly.\n\n## What the fixes bought\n\n| a | b |\n|---|---|\n| 1 | 2 |';

/** The notes of a file that must read without problems. */
function kept(md: string) {
  const r = readNotes(md);
  assert.deepEqual(r.problems, []);
  return r.notes;
}

test('a run that rewrites BENCHMARKS.md keeps its hand-written blocks, in their places', () => {
  const first = renderReport(report(A), { run: { text: RUN, about: A }, analysis: { text: ANALYSIS } });
  assert.deepEqual(kept(first), { run: { text: RUN, about: A }, analysis: { text: ANALYSIS } });
  // The run's notes follow the budget table; the analysis ends the file, after the generated profile section.
  assert.ok(first.indexOf('## Budget') < first.indexOf(RUN) && first.indexOf(RUN) < first.indexOf('## Setup'));
  assert.ok(first.indexOf('## Profile of this run') < first.indexOf(ANALYSIS));
  assert.ok(first.trimEnd().endsWith('<!-- /notes:analysis -->'));
  // Rendering the same run again changes nothing.
  assert.equal(renderReport(report(A), kept(first)), first);
});

test('notes about an older run are kept and marked as such, once, until their date is updated', () => {
  const old = renderReport(report(A), { run: { text: RUN, about: A }, analysis: { text: ANALYSIS } });
  const next = renderReport(report(B), kept(old));
  assert.match(next, new RegExp(`> The notes below are about the run of ${A}; the figures above are from the run of ${B}\\.`));
  assert.ok(next.includes(RUN));
  // A third run reads the block without the warning (it is outside the markers): one warning, not two.
  const third = renderReport(report(B), kept(next));
  assert.equal(third, next);
  assert.equal(third.split('The notes below are about').length, 2);
  // Updated by hand to the new run: no warning.
  const updated = third.replace(`about="${A}"`, `about="${B}"`);
  assert.doesNotMatch(renderReport(report(B), kept(updated)), /notes below/);
  // A marker without a date says so on every run, and keeps having none.
  const undated = third.replace(`<!-- notes:run about="${A}" -->`, '<!-- notes:run -->');
  const again = renderReport(report(B), kept(undated));
  assert.match(again, /> The notes below do not say which run they are about/);
  assert.match(again, /\n<!-- notes:run -->\n/);
});

test('a file without blocks gets empty ones; an empty block is never taken for notes about an older run', () => {
  const md = renderReport(report(A), kept('# llmux benchmarks\n\nold text without markers\n'));
  assert.match(md, new RegExp(`<!-- notes:run about="${A}" -->\\n<!-- Notes on this run, written by hand`));
  assert.match(md, /<!-- notes:analysis -->\n<!-- Where the time goes and what each fix bought/);
  assert.doesNotMatch(md, /old text without markers/);
  // The next run finds the placeholder, not notes: a fresh empty block with its own date, and no warning.
  const next = renderReport(report(B), kept(md));
  assert.match(next, new RegExp(`<!-- notes:run about="${B}" -->\\n<!-- Notes on this run`));
  assert.doesNotMatch(next, /notes below/);
  assert.deepEqual(renderNote('run', { text: ' \n<!-- x -->\n', about: A }, B)[0], `<!-- notes:run about="${B}" -->`);
});

test('marker-like text inside a block is the block\'s own text; CRLF files read as LF', () => {
  const tricky = 'Blocks look like `<!-- notes:analysis -->` and end with\n<!-- /notes:analysis -->\nwhich is just text here.';
  const md = renderReport(report(A), { run: { text: tricky, about: A }, analysis: { text: ANALYSIS } });
  assert.deepEqual(kept(md), { run: { text: tricky, about: A }, analysis: { text: ANALYSIS } });
  assert.equal(renderReport(report(A), kept(md)), md);
  assert.deepEqual(kept(md.replace(/\n/g, '\r\n')), { run: { text: tricky, about: A }, analysis: { text: ANALYSIS } });
});

test('markers that do not pair up are problems, so that the bench does not rewrite the file', () => {
  const good = renderReport(report(A), { run: { text: RUN, about: A }, analysis: { text: ANALYSIS } });
  const problems = (md: string): string => readNotes(md).problems.join(' | ');
  assert.match(problems(good.replace('<!-- /notes:analysis -->', '')), /"analysis" block that opens at line \d+ is not closed/);
  assert.match(problems(`${good}\n<!-- notes:analysis -->\nmore\n<!-- /notes:analysis -->\n`), /a second "analysis" block/);
  assert.match(problems(good.replace(`<!-- notes:run about="${A}" -->`, '<!--notes:run-->')), /a marker not written as/);
  assert.match(problems(`${good}\n<!-- /notes:run -->\n`), /a closing marker with no block open/);
  assert.equal(problems(good), '');
});

test('quick runs (no notes given) carry no blocks', () => {
  assert.doesNotMatch(renderReport(report(A)), /notes:/);
});
