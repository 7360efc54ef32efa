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

const RUN = 'Read with care: the stream line was met by 0.01.\n\n- a list, kept as written';
const ANALYSIS = '## Where the time goes\n\nThe relay, mostly.\n\n## What the fixes bought\n\n| a | b |\n|---|---|\n| 1 | 2 |';

test('a run that rewrites BENCHMARKS.md keeps its hand-written blocks, in their places', () => {
  const first = renderReport(report('2026-12-07 00:18 UTC'), { run: { text: RUN, about: '2026-12-07 00:18 UTC' }, analysis: { text: ANALYSIS } });
  const kept = readNotes(first);
  assert.deepEqual(kept, { run: { text: RUN, about: '2026-12-07 00:18 UTC' }, analysis: { text: ANALYSIS } });
  // The run's notes follow the budget table; the analysis ends the file, after the generated profile section.
  assert.ok(first.indexOf('## Budget') < first.indexOf(RUN) && first.indexOf(RUN) < first.indexOf('## Setup'));
  assert.ok(first.indexOf('## Profile of this run') < first.indexOf(ANALYSIS));
  assert.ok(first.trimEnd().endsWith('<!-- /notes:analysis -->'));
  // Rendering the same run again changes nothing.
  assert.equal(renderReport(report('2026-12-07 00:18 UTC'), kept), first);
});

test('notes about an older run are kept and marked as such, once, until their date is updated', () => {
  const old = renderReport(report('2026-12-07 00:18 UTC'), { run: { text: RUN, about: '2026-12-07 00:18 UTC' }, analysis: { text: ANALYSIS } });
  const next = renderReport(report('2026-12-08 09:00 UTC'), readNotes(old));
  assert.match(next, /> The notes below are about the run of 2026-12-07 00:18 UTC; the figures above are from the run of 2026-12-08 09:00 UTC\./);
  assert.ok(next.includes(RUN));
  // A third run reads the block without the warning (it is outside the markers): one warning, not two.
  const third = renderReport(report('2026-12-08 09:00 UTC'), readNotes(next));
  assert.equal(third, next);
  assert.equal(third.split('The notes below are about').length, 2);
  // Updated by hand to the new run: no warning.
  const updated = third.replace('about="2026-12-07 00:18 UTC"', 'about="2026-12-08 09:00 UTC"');
  assert.doesNotMatch(renderReport(report('2026-12-08 09:00 UTC'), readNotes(updated)), /notes below are about/);
});

test('a file without blocks gets empty ones that say what belongs there; an unclosed block is not taken', () => {
  const md = renderReport(report('2026-12-07 00:18 UTC'), readNotes('# llmux benchmarks\n\nold text without markers\n'));
  assert.match(md, /<!-- notes:run about="2026-12-07 00:18 UTC" -->\n<!-- Notes on this run, written by hand/);
  assert.match(md, /<!-- notes:analysis -->\n<!-- Where the time goes and what each fix bought/);
  assert.doesNotMatch(md, /old text without markers/);
  assert.deepEqual(readNotes('<!-- notes:analysis -->\nnever closed\n'), {});
  // An empty block is written as an empty one again, with the current date.
  assert.deepEqual(renderNote('run', { text: '', about: '2020-01-01 00:00 UTC' }, '2026-12-07 00:18 UTC').slice(0, 1), ['<!-- notes:run about="2026-12-07 00:18 UTC" -->']);
});

test('quick runs (no notes given) carry no blocks', () => {
  const md = renderReport(report('2026-12-07 00:18 UTC'));
  assert.doesNotMatch(md, /notes:/);
});
