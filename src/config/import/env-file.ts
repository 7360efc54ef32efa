/**
 * `--env-file`: imported keys as `LLMUX_<ID>_KEY=…` lines. An existing file is merged, not
 * replaced (it usually holds other settings); a variable it already sets to a different value is
 * a conflict that needs `--force`, because silently replacing a working key is worse than stopping.
 */
import { readFile, writeFile, chmod } from 'node:fs/promises';
import { parse as parseDotenv } from 'dotenv';
import { importError } from './read-source.ts';

/** Quote a value so dotenv reads it back unchanged. */
export function envLine(name: string, value: string): string {
  if (/^[A-Za-z0-9_\-.:/+=@~,]*$/.test(value)) return `${name}=${value}`;
  if (!value.includes("'")) return `${name}='${value}'`;
  return `${name}=\`${value}\``;
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export async function mergeEnvFile(file: string, secrets: Readonly<Record<string, string>>, force: boolean): Promise<void> {
  if (Object.keys(secrets).length === 0) return;
  const before = await readIfExists(file);
  const current = before === null ? {} : parseDotenv(before);
  const conflicts = Object.keys(secrets).filter((k) => current[k] !== undefined && current[k] !== secrets[k]);
  if (conflicts.length > 0 && !force) {
    throw importError(`${file} already sets ${conflicts.join(', ')} to other values; pass --force to replace them`);
  }
  const lines = before === null ? [] : before.replace(/\n$/, '').split('\n');
  const replaced = new Set<string>();
  const out = lines.map((line) => {
    const name = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=/.exec(line)?.[1];
    if (name === undefined || !(name in secrets)) return line;
    replaced.add(name);
    return envLine(name, secrets[name]!);
  });
  const added = Object.entries(secrets).filter(([k]) => !replaced.has(k));
  if (added.length > 0 && out.length > 0) out.push('', '# keys imported by llmux import');
  for (const [k, v] of added) out.push(envLine(k, v));
  await writeFile(file, `${out.join('\n')}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
}
