/**
 * Request ids: random (version 4) UUIDs from the system's secure random source, as
 * `crypto.randomUUID()` makes them, but written out 128 at a time. Node's `randomUUID` also draws its
 * random bytes 128 ids at a time, and then builds each id's text from twenty pieces: about 600 bytes
 * of intermediate strings a request on the gateway's path, a sixth of what llmux allocates beyond
 * the bare proxy apart from the stream's own text (V8's sampling heap profiler; bench/HISTORY.md,
 * twenty-second round). Here the 128 ids are written as one text, and each id is a slice of it (V8
 * shares the characters: no copy). Same format, same bits, same source of randomness. An id kept
 * for long keeps its batch's text (4.6 KB) alive: the ids a gateway keeps (log rows, captures) are
 * few, or many from the same batches.
 */
import { randomFillSync } from 'node:crypto';

/** Ids written at a time (what Node's own entropy cache holds). */
const BATCH = 128;
const ID_LENGTH = 36;

const random = Buffer.allocUnsafeSlow(16 * BATCH);
const text = Buffer.allocUnsafeSlow(ID_LENGTH * BATCH);
/** Character codes of the lower-case hex digits. */
const HEX = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const DASH = 0x2d;

/** The current batch's ids, one after another. */
let batch = '';
let next = BATCH;

function refill(): void {
  randomFillSync(random);
  let t = 0;
  for (let i = 0; i < BATCH; i++) {
    const r = i * 16;
    // RFC 9562 §5.4: version 4 in the high nibble of byte 6, variant 10 in the two high bits of byte 8.
    random[r + 6] = (random[r + 6]! & 0x0f) | 0x40;
    random[r + 8] = (random[r + 8]! & 0x3f) | 0x80;
    for (let j = 0; j < 16; j++) {
      if (j === 4 || j === 6 || j === 8 || j === 10) text[t++] = DASH;
      const b = random[r + j]!;
      text[t++] = HEX[b >> 4]!;
      text[t++] = HEX[b & 15]!;
    }
  }
  batch = text.toString('latin1', 0, t);
  next = 0;
}

/** A new random UUID (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`), as `crypto.randomUUID()` returns. */
export function requestId(): string {
  if (next === BATCH) refill();
  const at = next++ * ID_LENGTH;
  return batch.slice(at, at + ID_LENGTH);
}
