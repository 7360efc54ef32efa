/**
 * `npm test`: type-check, architecture check, then every test file with node's test runner. Exits
 * non-zero on any failure; the runner prints its summary (tests / pass / fail) last.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const bin = (name: string): string => path.join(root, 'node_modules', '.bin', name);

function run(label: string, cmd: string, args: string[]): void {
  process.stdout.write(`\n▶ ${label}\n`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    process.stdout.write(`\n✖ ${label} failed (exit ${r.status ?? r.signal})\n`);
    process.exit(r.status ?? 1);
  }
}

const only = process.argv.slice(2);
if (only.length === 0) {
  run('typecheck (tsc --noEmit)', bin('tsc'), ['--noEmit', '-p', '.']);
  run('architecture check', process.execPath, [path.join(root, 'scripts', 'check-architecture.ts')]);
}
const files = only.length > 0 ? only : ['src/**/*.test.ts', 'test/**/*.test.ts'];
run('tests', process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=60000', '--test-reporter=spec', ...files]);
