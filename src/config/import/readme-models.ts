/**
 * Model names from the list items of a free-api folder's README. The old proxy matched only
 * two hard-coded name prefixes and lost the order (seed-formats §1.2); here any name that looks like a
 * model counts, in file order, so "the first model" is the one the README lists first.
 */

const listItem = /^\s*(?:[-*+]|\d+[.)])\s+(.+)$/;

/** Words with hyphens or digits that READMEs use and that are not models. */
const notModels = new Set(['utf-8', 'python2', 'python3', 'pip3', 'x-api-key', 'content-type', 'api-key', 'base-url', 'e-mail', 'step-by-step', 'plug-in', 'built-in', 'real-time', 'open-source', 'text-only']);
const fileExtension = /\.(py|md|txt|json|sh|bat|ps1|env|ya?ml|js|ts|html|toml|ini|cfg|log)$/i;
/** `free.v36.cm`, `api.example.com`: a host, not a model. */
const hostLike = /^[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,6}$/i;

function stripMarkdown(s: string): string {
  return s
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1') // [text](link) → text
    .replace(/\*\*|__|`/g, ' ');
}

/** Candidate tokens of an item: ASCII runs split at spaces, commas, brackets and "name: text". */
function tokensOf(item: string): string[] {
  return stripMarkdown(item)
    .split(/[^\x21-\x7e]+|[,;()|"'<>]+|:(?=\s|$)/)
    .map((t) => t.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, ''))
    .filter((t) => t.length >= 2);
}

/**
 * A model name: starts with a letter, no spaces, not a URL, file, host or key; and it has a digit
 * or a `/` (gpt-4o, qwen2.5, org/model), or — only as the item's first word — is lower-case with
 * a hyphen (chat-model, small-latest), which prose rarely starts with.
 */
function isModelLike(token: string, first: boolean): boolean {
  if (!/^[A-Za-z][A-Za-z0-9._:/@+-]*$/.test(token)) return false;
  if (token.includes('://') || fileExtension.test(token) || /^sk-/i.test(token)) return false;
  if (notModels.has(token.toLowerCase())) return false;
  if (!token.includes('/') && hostLike.test(token)) return false;
  if (/\d/.test(token) || token.includes('/')) return true;
  return first && token.includes('-') && token === token.toLowerCase();
}

/** Model names from `- name`, `* name`, `1. name` items, in file order, without duplicates. */
export function modelsFromReadme(text: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const m = listItem.exec(line);
    if (!m?.[1]) continue;
    tokensOf(m[1]).forEach((t, i) => {
      if (isModelLike(t, i === 0) && !seen.has(t)) {
        seen.add(t);
        out.push(t);
      }
    });
  }
  return out;
}
