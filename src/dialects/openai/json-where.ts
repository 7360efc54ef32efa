/**
 * Where a JSON text first goes wrong, for the 400 that tells a client where its body failed to
 * parse (SPEC §7). V8's messages carry a position only for some errors: `Unexpected token 'h',
 * "hello" is not valid JSON` and `Unexpected end of JSON input` have none. One linear pass with an
 * explicit stack (no recursion, so a 100 000-level body is fine). Pure.
 */

type Want = 'value' | 'valueOrClose' | 'key' | 'keyOrClose' | 'colon' | 'next' | 'done';

const literals = ['true', 'false', 'null'];
const numberRe = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const hex4Re = /[0-9a-fA-F]{4}/y;

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

/** End (exclusive) of the string starting at `i` (a `"`), or `-(errorOffset + 1)`. */
function stringEnd(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c === 0x22) return j + 1;
    if (c < 0x20) return -(j + 1);
    if (c === 0x5c) {
      const e = text[j + 1];
      if (e === 'u') {
        hex4Re.lastIndex = j + 2;
        if (!hex4Re.test(text)) return -(j + 1);
        j += 6;
      } else if (e !== undefined && '"\\/bfnrt'.includes(e)) j += 2;
      else return -(j + 1);
    } else j++;
  }
  return -(text.length + 1);
}

/** End of the scalar value at `i` (string, number, literal), or `-(errorOffset + 1)`. */
function scalarEnd(text: string, i: number): number {
  if (text[i] === '"') return stringEnd(text, i);
  for (const lit of literals) if (text.startsWith(lit, i)) return i + lit.length;
  numberRe.lastIndex = i;
  return numberRe.test(text) ? numberRe.lastIndex : -(i + 1);
}

/** Offset of the first character that makes `text` invalid JSON, or null if it is valid. */
export function jsonErrorOffset(text: string): number | null {
  const stack: string[] = [];
  let want: Want = 'value';
  let i = 0;
  const after = (): Want => (stack.length > 0 ? 'next' : 'done');
  for (;;) {
    while (isSpace(text[i])) i++;
    if (i >= text.length) return want === 'done' ? null : text.length;
    const c = text[i]!;
    if (want === 'done') return i;
    if (want === 'colon') {
      if (c !== ':') return i;
      i++;
      want = 'value';
    } else if (want === 'next') {
      const top = stack[stack.length - 1];
      if (c === ',') want = top === '{' ? 'key' : 'value';
      else if ((c === '}' && top === '{') || (c === ']' && top === '[')) stack.pop();
      else return i;
      i++;
      if (c !== ',') want = after();
    } else if ((c === '}' && want === 'keyOrClose') || (c === ']' && want === 'valueOrClose')) {
      stack.pop();
      i++;
      want = after();
    } else if (want === 'key' || want === 'keyOrClose') {
      if (c !== '"') return i;
      const end = stringEnd(text, i);
      if (end < 0) return -end - 1;
      i = end;
      want = 'colon';
    } else if (c === '{' || c === '[') {
      stack.push(c);
      i++;
      want = c === '{' ? 'keyOrClose' : 'valueOrClose';
    } else {
      const end = scalarEnd(text, i);
      if (end < 0) return -end - 1;
      i = end;
      want = after();
    }
  }
}

/** ` at position 14 (line 2, column 3)`, or '' when the text is valid. */
export function describeJsonError(text: string): string {
  const at = jsonErrorOffset(text);
  if (at === null) return '';
  let line = 1;
  let lineStart = 0;
  for (let k = text.indexOf('\n'); k !== -1 && k < at; k = text.indexOf('\n', k + 1)) {
    line++;
    lineStart = k + 1;
  }
  return ` at position ${at} (line ${line}, column ${at - lineStart + 1})`;
}
