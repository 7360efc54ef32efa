/**
 * Spawn `llmux serve` as a real process for end-to-end tests: waits for its "llmux listening" log
 * line (JSON lines, since stdout is not a TTY) and returns its URL. Always stop it with `stop()`,
 * which kills by PID if it does not exit by itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', '..');

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  output: string[];
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export async function spawnServe(args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 15_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [path.join(root, 'src', 'cli.ts'), 'serve', '--port', '0', ...args], {
    cwd,
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`llmux did not start within ${timeoutMs} ms:\n${output.join('')}`)), timeoutMs);
    const onData = (b: Buffer): void => {
      const text = b.toString('utf8');
      output.push(text);
      const m = /"url":"(http:\/\/[^"]+)".*"msg":"llmux listening"|"msg":"llmux listening".*"url":"(http:\/\/[^"]+)"/.exec(output.join(''));
      if (m) {
        clearTimeout(timer);
        resolve((m[1] ?? m[2])!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => output.push(b.toString('utf8')));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`llmux exited (${code}) before listening:\n${output.join('')}`));
    });
  });
  return {
    child, url, output, exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
