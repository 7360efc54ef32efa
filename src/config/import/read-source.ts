/**
 * Reading the old tools' files. Error messages never quote file content: V8's JSON errors include
 * a snippet of the text, and in these files that snippet is often an API key.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { LlmuxError } from '../../core/errors.ts';

export function importError(message: string, cause?: unknown): LlmuxError {
  return new LlmuxError('LLMUX_ERR_CONFIG', message, cause === undefined ? {} : { cause });
}

export async function isFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

export async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The file to read: `input` itself when it is a file, else the first of `candidates` (relative to
 * the folder `input`) that exists. Users point at a repository root as often as at the file.
 */
export async function resolveFile(input: string, candidates: readonly string[], what: string): Promise<string> {
  const abs = path.resolve(input);
  if (await isFile(abs)) return abs;
  if (!(await isDirectory(abs))) throw importError(`${input}: no such file or folder`);
  for (const c of candidates) {
    const p = path.join(abs, c);
    if (await isFile(p)) return p;
  }
  throw importError(`${input}: no ${what} found (looked for ${candidates.join(', ')})`);
}

/** Line number (1-based) of a character offset, for error messages without content. */
function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** Parse JSON; on failure say where, never what (see the module comment). */
export function parseJsonText(text: string, file: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    const pos = /position (\d+)/.exec((e as Error).message);
    const where = pos?.[1] !== undefined ? ` near line ${lineOf(text, Number(pos[1]))}` : '';
    throw importError(`${file}: not valid JSON${where}`);
  }
}

export async function readJsonFile(file: string): Promise<unknown> {
  return parseJsonText(await readFile(file, 'utf8'), file);
}

/** A JSON file that may be absent: undefined when missing, unreadable or invalid. */
export async function readOptionalJson(file: string): Promise<unknown> {
  try {
    return JSON.parse((await readFile(file, 'utf8')).replace(/^\uFEFF/, ''));
  } catch {
    return undefined;
  }
}

/** `.env` text → variables; quotes and comments handled the way llmux's own loader does. */
export async function readEnvFile(file: string): Promise<Record<string, string>> {
  return parseDotenv(await readFile(file, 'utf8'));
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-empty trimmed string, else undefined. */
export function str(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

/** A finite number, also from a numeric string (JS comparisons in the old tools coerce). */
export function num(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}
