import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AGENT_BODY_BYTES, renderReport, type AgentRun, type RunReport } from '../../bench/report.ts';
import { agentBody } from '../../bench/targets.ts';

test('the agent-size body: about its size, the same bytes every time, the parts that make it costly', () => {
  const text = agentBody(true);
  const bytes = Buffer.byteLength(text);
  assert.ok(bytes >= AGENT_BODY_BYTES && bytes < AGENT_BODY_BYTES * 1.1, `${bytes} bytes`);
  assert.equal(agentBody(true), text);
  const b = JSON.parse(text) as { model: string; stream: boolean; stream_options: unknown; tools: unknown[]; messages: { role: string; content: string }[] };
  assert.equal(b.model, 'bench');
  assert.equal(b.stream, true);
  assert.deepEqual(b.stream_options, { include_usage: true });
  assert.equal(b.tools.length, 20);
  assert.equal(b.messages[0]!.role, 'system');
  const all = b.messages.map((m) => m.content).join('');
  // Escapes in the JSON (quotes, backslashes, line breaks) and multi-byte characters: what decoding and parsing pay for.
  assert.ok(all.includes('"') && all.includes('\\') && all.includes('\n') && /[\u4e00-\u9fff]/.test(all));
  const plain = JSON.parse(agentBody(false)) as Record<string, unknown>;
  assert.equal(plain.stream, undefined);
  assert.deepEqual(plain.messages, b.messages);
});

function report(agent: AgentRun[] | undefined): RunReport {
  return {
    title: 'llmux benchmarks', date: '2026-12-07 10:00 UTC', settings: 'Full run, for a test.', notes: [], checks: [], cells: [], connections: [32], modes: ['stream'],
    targets: ['direct', 'bare', 'llmux'], memory: [], ttfb: [], gaps: [], holds: [], agent,
    machine: { node: 'v24.0.0', cpuModel: 'Test CPU', cores: 2, memGiB: 4 },
  } as unknown as RunReport;
}

const run = (target: string, rep: number, rps: number, cpu: number, rss: number): AgentRun => ({ target, rep, rps, cpuUsPerReq: cpu, gcThreadsUsPerReq: 10, errors: 0, noisePct: 1, rssAfterMiB: rss });

test('the agent-size section: medians per proxy, the largest RSS, and llmux against the bare proxy', () => {
  const md = renderReport(report([run('bare', 1, 1500, 400, 200), run('llmux', 1, 900, 1000, 380), run('llmux', 2, 1000, 900, 400), run('bare', 2, 1600, 380, 210), run('bare', 3, 1550, 390, 205), run('llmux', 3, 950, 950, 390)]), {});
  assert.match(md, /## Agent-size requests \(a 200 KB body, streamed; 8 connections\)/);
  assert.match(md, /\| bare \| 3 \| 1,550 \| 390 \| 10\.0 \| 210 \| 0 \| 1 \|/);
  assert.match(md, /\| llmux \| 3 \| 950 \| 950 \| 10\.0 \| 400 \| 0 \| 1 \|/);
  assert.match(md, /llmux \/ bare proxy: 2\.44× the CPU a request, 0\.61× the requests\/s\./);
});

test('a report without agent-size runs (written before them) has no such section', () => {
  assert.doesNotMatch(renderReport(report(undefined), {}), /Agent-size/);
});
