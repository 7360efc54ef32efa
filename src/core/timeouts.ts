/**
 * Timeouts that nearly always end cancelled: a request's deadline (`server.deadlineMs`) and an
 * attempt's total time (`timeout.totalMs`), two a request. Node's setTimeout and clearTimeout cost
 * about 0.35 µs a pair in a loop on this machine, more under load, and a Timeout object each (an async
 * id, a place in a list). Here the timeouts that fall due in the same 10 ms slot share one Node timer:
 * starting one is a map lookup and a list insert, cancelling it an unlink, and no clock is read (the
 * caller passes the time it already has).
 *
 * A timeout fires at its time or up to one slot later, never earlier. A slot's Node timer is cleared
 * as soon as its last timeout is cancelled, so a pending timeout keeps the process alive exactly as a
 * Node timer would, and nothing is left once none is pending.
 */

/** Anything with a cancel(): a Timeout, or a stand-in in tests. */
export interface Cancellable {
  cancel(): void;
}

/** What a timeout aborts, and with what reason. */
export interface AbortTarget {
  abort(reason: unknown): void;
}

const SLOT_MS = 10;
/** Node's longest timer delay (2^31 - 1 ms). */
const MAX_DELAY_MS = 2 ** 31 - 1;

interface Slot {
  readonly key: number;
  head: Timeout | null;
  timer: NodeJS.Timeout | null;
}

const slots = new Map<number, Slot>();

export class Timeout implements Cancellable {
  /** performance.now() at which it falls due. */
  readonly due: number;
  target: AbortTarget | null;
  readonly reason: unknown;
  slot: Slot | null = null;
  prev: Timeout | null = null;
  next: Timeout | null = null;

  constructor(due: number, target: AbortTarget, reason: unknown) {
    this.due = due;
    this.target = target;
    this.reason = reason;
  }

  /** Stops it (if it has not fired yet); calling it again does nothing. */
  cancel(): void {
    this.target = null;
    const slot = this.slot;
    if (slot === null) return;
    this.slot = null;
    if (this.prev !== null) this.prev.next = this.next;
    else slot.head = this.next;
    if (this.next !== null) this.next.prev = this.prev;
    this.prev = this.next = null;
    if (slot.head === null && slots.get(slot.key) === slot) {
      slots.delete(slot.key);
      if (slot.timer !== null) clearTimeout(slot.timer);
      slot.timer = null;
    }
  }
}

/**
 * Calls `target.abort(reason)` once `ms` have passed since `now` (a performance.now() reading the
 * caller already has), unless cancelled first.
 */
export function abortAfter(now: number, ms: number, target: AbortTarget, reason: unknown): Timeout {
  const t = new Timeout(now + ms, target, reason);
  place(t);
  return t;
}

function place(t: Timeout): void {
  const key = Math.ceil(t.due / SLOT_MS);
  let slot = slots.get(key);
  if (slot === undefined) {
    slot = { key, head: null, timer: null };
    slots.set(key, slot);
    // A whole number of milliseconds: Node keeps one list per distinct duration, and a fractional one
    // would make a new list (and a libuv timer) for nearly every slot. Node's timers never fire early
    // by their own clock; `fire` checks each timeout against performance.now() anyway, and puts back
    // one that is not due yet.
    // At most Node's longest delay (about 24.8 days; a longer one would fire after 1 ms): a timeout
    // further away than that is put back when this fires.
    slot.timer = setTimeout(fire, Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil(key * SLOT_MS - performance.now()))), slot);
  }
  t.slot = slot;
  t.next = slot.head;
  if (slot.head !== null) slot.head.prev = t;
  slot.head = t;
}

function fire(slot: Slot): void {
  if (slots.get(slot.key) === slot) slots.delete(slot.key);
  slot.timer = null;
  // Detached first: an abort may cancel other timeouts of this slot (they are skipped then).
  const due: Timeout[] = [];
  for (let t = slot.head; t !== null; t = t.next) due.push(t);
  slot.head = null;
  for (const t of due) {
    t.slot = null;
    t.prev = t.next = null;
  }
  const now = performance.now();
  let first: unknown = null;
  let failed = false;
  for (const t of due) {
    const target = t.target;
    if (target === null) continue;
    if (t.due > now) {
      place(t);
      continue;
    }
    t.target = null;
    try {
      target.abort(t.reason);
    } catch (e) {
      // The others still fire; the first error is thrown afterwards, as a timer callback's would be.
      if (!failed) first = e;
      failed = true;
    }
  }
  if (failed) throw first;
}

/** Timeouts pending (tests). */
export function pendingTimeouts(): number {
  let n = 0;
  for (const s of slots.values()) for (let t = s.head; t !== null; t = t.next) n++;
  return n;
}
