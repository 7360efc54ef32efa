/**
 * The stream relay (SPEC §5, the commit protocol). Nothing reaches the client until the upstream has
 * sent its first content event; until then every failure (an error as first event, a cut, a stall) is
 * a failed attempt and the executor fails over invisibly. After commit, upstream chunks are written
 * as they come — aligned to event boundaries, never re-split or re-serialised unless an event must
 * change (usage chunk the caller did not ask for, reasoning rename) — and a failure ends the stream
 * with an OpenAI-style error event, never a clean end.
 */
import type { FailureClass } from '../core/failure.ts';
import { classifyInBand, readUpstreamError, scrubSecrets } from '../dialects/openai/errors.ts';
import { renameReasoning } from '../dialects/openai/quirks.ts';
import { StreamAssembler } from '../dialects/openai/assemble.ts';
import { quickUsageEvent } from '../dialects/openai/quick-check.ts';
import { QuietChunks } from '../dialects/openai/quiet-chunks.ts';
import { SseScanner, errorEvent, eventData, eventEnd, hasError, hasText, hasUsage, isContentChunk, isDone, lastBoundary, oneDataLine, QuickScan, readUsage, type UsageCounts } from '../dialects/openai/sse.ts';
import { classifyThrown, fail, secretsOf, upstreamMessage, type AttemptResult } from './attempt.ts';
import { abortKind, releaseBody, type Abortable, type RequestContext } from './context.ts';
import type { UpstreamStream } from '../upstream/client.ts';
import type { Endpoint } from './planner.ts';
import { llmuxHead, sseHead } from './response.ts';

/** Role chunks recognised without a parse, learnt per upstream provider (dialects/openai/quiet-chunks.ts). */
const quietChunks = new QuietChunks();

/** Most bytes held back before the first content event; past it the stream is committed anyway. */
const maxPreamble = 1024 * 1024;

type Action = 'keep' | 'drop' | Buffer;

interface RelayState {
  committed: boolean;
  commitNow: boolean;
  sawDone: boolean;
  usage: UsageCounts | null;
  /** performance.now() when the first content event was seen (0 before): the commit's time too, and the TTFT's. */
  contentAt: number;
  /** An error event seen (pre-commit: the attempt fails; post-commit: passed through and recorded). */
  inband: { cls: FailureClass; message: string } | null;
  held: Buffer[];
  heldBytes: number;
  /** The answer to the client was ended at [DONE]. */
  ended: boolean;
}

/**
 * Relay one upstream SSE body. `resolve` gets, once, a failure if the stream failed before commit
 * (nothing was sent; the body is destroyed), else `done` once the stream ended (possibly before this
 * returns, when the whole stream was already in). `onCommit` runs at commit. A callback, not a
 * promise: one promise an attempt (run-attempt.ts).
 */
export function relay(ctx: RequestContext, ep: Endpoint, body: UpstreamStream, tSend: number, attemptSignal: Abortable, onCommit: () => void, resolve: (r: AttemptResult) => void): void {
  const res = ctx.res;
  const stripUsage = !ctx.includeUsage;
  const rename = ep.provider.reasoningField;
  const assembler = ctx.capture ? new StreamAssembler() : null;
  const slow = rename !== undefined || assembler !== null;
  const scanner = new SseScanner();
  // Every usage event is kept when the caller asked for usage: only the last one's counts are read.
  const quick = new QuickScan(!stripUsage);
  const st: RelayState = { committed: false, commitNow: false, sawDone: false, usage: null, contentAt: 0, inband: null, held: [], heldBytes: 0, ended: false };

  /** The first content event: the stream commits once its chunk has been read. */
  function contentSeen(): void {
    st.commitNow = true;
    st.contentAt = performance.now();
  }

  /**
   * Inspect the event [s, e) of a chunk: `b` its bytes, `text` the same as a latin1 string (what the
   * searches read; byte offsets are character offsets). Returns what to forward in its place.
   */
  function inspect(b: Buffer, text: string, s: number, e: number): Action {
    // Once content was seen (also earlier in this same chunk), only marked events need a look.
    const cheap = (st.committed || st.commitNow) && !slow;
    const k = slow ? 'look' : quick.kind(s, e);
    if (cheap) {
      if (k === 'plain') return 'keep';
      if (k === 'done') {
        st.sawDone = true;
        return 'keep';
      }
      // The usage chunk that ends most streams, read in place (whether its list is empty matters only
      // when it may be dropped).
      const u = quickUsageEvent(text, s, e, stripUsage);
      if (u !== null) {
        if (u.usage !== null) st.usage = u.usage;
        return stripUsage && u.usage !== null && u.emptyChoices ? 'drop' : 'keep';
      }
    } else if (k === 'plain' && hasText(text, s, e)) {
      // The first content event, recognised without a parse: commit.
      contentSeen();
      return 'keep';
    }
    // Without a mark the event holds no [DONE], usage or error; else look.
    if (k === 'done' || (k === 'look' && isDone(text, s, e))) {
      st.sawDone = true;
      return 'keep';
    }
    if (cheap && !hasUsage(text, s, e) && !hasError(text, s, e)) return 'keep';
    // The usual event is one data line, parsed from the latin1 text: its structure and numbers are
    // what count here. Anything else, and whatever is kept or shown (capture, a rename, an error's
    // message), is decoded as UTF-8.
    const line = slow ? null : oneDataLine(text, s, e);
    // The role chunk this upstream sent on its last stream, with another id and time: quiet, no parse.
    if (line !== null && !st.committed && quietChunks.known(ep.provider.id, line)) return 'keep';
    let obj: Record<string, unknown>;
    let name: string | null = null;
    try {
      if (line !== null) obj = JSON.parse(line) as Record<string, unknown>;
      else {
        const d = eventData(b, s, e, text);
        if (d.data === null) return 'keep';
        name = d.name;
        obj = JSON.parse(d.data) as Record<string, unknown>;
      }
    } catch {
      if (!st.committed) st.inband = { cls: 'transient', message: 'the upstream sent an event that is not JSON' };
      return 'keep';
    }
    // `data: null`, a number, a list: JSON, but no chunk. Before content it fails the attempt as a
    // broken event does; after commit it is passed on.
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
      if (!st.committed) st.inband = { cls: 'transient', message: 'the upstream sent an event that is not a JSON object' };
      return 'keep';
    }
    if (name === 'error' || (obj.error !== undefined && obj.error !== null)) {
      // Its message is for people: read from the event's UTF-8.
      const info = readUpstreamError(line === null ? obj : (JSON.parse(eventData(b, s, e, text).data ?? 'null') as Record<string, unknown>));
      st.inband = { cls: classifyInBand(info), message: `the upstream sent an error event: ${upstreamMessage(info.message, ep.provider)}` };
      // Passed on after commit, but never with a key the upstream echoed into it.
      const raw = b.toString('utf8', s, e);
      const clean = scrubSecrets(raw, secretsOf(ep.provider));
      return clean === raw ? 'keep' : Buffer.from(clean);
    }
    assembler?.add(obj);
    if (obj.usage) st.usage = readUsage(obj.usage) ?? st.usage;
    if (!st.committed) {
      if (isContentChunk(obj)) contentSeen();
      // Quiet (JSON, no content, no error, no usage): the next stream's copy of it needs no parse.
      else if (line !== null && !obj.usage) quietChunks.learn(ep.provider.id, line);
    }
    const choices = obj.choices;
    if (stripUsage && obj.usage && Array.isArray(choices) && choices.length === 0) return 'drop';
    if (rename && renameReasoning(obj, rename)) return Buffer.from(`data: ${JSON.stringify(obj)}\n\n`);
    return 'keep';
  }

  {
    let settled = false;
    const finish = (r: AttemptResult): void => {
      if (settled) return;
      settled = true;
      resolve(r);
    };
    const failPre = (cls: FailureClass, message: string): void => {
      body.destroy();
      finish(fail(cls, 200, message));
    };

    /** Write segments; `end` ends the answer with them (the upstream sent [DONE] and nothing after it). */
    function write(segments: Buffer[], end: boolean): void {
      if (res.destroyed) return;
      if (end) {
        st.ended = true;
        const last = segments.length - 1;
        for (let i = 0; i < last; i++) res.write(segments[i]);
        res.end(last >= 0 ? segments[last] : undefined);
        return;
      }
      if (segments.length === 0) return;
      let okay = true;
      for (const seg of segments) okay = res.write(seg) && okay;
      if (!okay) {
        body.pause();
        res.once('drain', () => body.resume());
      }
    }

    function commit(end: boolean): void {
      st.committed = true;
      onCommit();
      // The whole answer is here ([DONE] included): its length is known, so it goes out in one write
      // without chunked framing, as an upstream that sent it in one piece would have sent it.
      const head = end ? [...sseHead, 'content-length', String(st.heldBytes)] : sseHead;
      // Committed at its first content event, read in this same chunk: that time is the commit's too.
      const t = st.contentAt !== 0 ? st.contentAt : performance.now();
      res.writeHead(200, llmuxHead(ctx, ep, t - tSend, true, head, t));
      write(st.held, end);
      st.held = [];
      // Committed: nothing will send the request's body again while the stream stays open.
      releaseBody(ctx);
    }

    function onData(chunk: Buffer): void {
      // The answer ended at [DONE]: nothing after it is relayed.
      if (st.ended) return;
      const buf = scanner.take(chunk);
      const len = buf.length;
      // One latin1 string of the chunk for every search in it (sse.ts).
      const text = buf.toString('latin1');
      quick.chunk(text);
      const segments: Buffer[] = [];
      let from = 0; // bytes before `from` are in `segments` already, or dropped
      let pos = 0; // where the next event starts
      let jump = false;
      while (pos < len) {
        let s = pos;
        let e: number;
        jump = !slow && (st.committed || st.commitNow);
        if (jump) {
          // After content only events with a mark need a look: go from mark to mark, and forward
          // the events between them without visiting each one.
          const m = quick.next(pos);
          if (m === -1) break;
          s = lastBoundary(text, pos, m);
          e = eventEnd(text, s, m);
        } else {
          e = eventEnd(text, pos, pos === 0 ? scanner.resume : pos);
        }
        if (e === -1) break;
        const act = inspect(buf, text, s, e);
        if (act !== 'keep') {
          if (s > from) segments.push(buf.subarray(from, s));
          if (act !== 'drop') segments.push(act);
          from = e;
        }
        pos = e;
      }
      // Complete events end at the last blank line (when jumping, whole events follow the last mark).
      const complete = jump ? lastBoundary(text, pos, len) : pos;
      if (complete > from) segments.push(from === 0 && complete === len ? buf : buf.subarray(from, complete));
      scanner.hold(buf, complete);
      // [DONE] with nothing after it: the answer ends with this write, in the same packet.
      const end = st.sawDone && complete === len;
      if (st.committed) return write(segments, end);
      if (st.inband) return failPre(st.inband.cls, st.inband.message);
      // A fast upstream may send the whole answer, [DONE] included, in one chunk: content first wins.
      if (st.sawDone && !st.commitNow) return failPre('transient', 'the upstream stream ended before any content');
      for (const seg of segments) {
        st.held.push(seg);
        st.heldBytes += seg.length;
      }
      if (st.commitNow || st.heldBytes > maxPreamble) commit(end);
    }
    function onEnd(): void {
      if (!st.committed) {
        return finish(fail(st.inband?.cls ?? 'transient', 200, st.inband?.message ?? 'the upstream stream ended before any content'));
      }
      if (st.ended) return finish(doneAsRelayed());
      const rest = scanner.rest();
      if (rest && !res.destroyed) res.write(rest);
      if (!st.sawDone) {
        res.end(errorEvent('The upstream stream ended before it was complete ([DONE] missing); the answer above is cut.', 'upstream_error', 'stream_truncated'));
        return finish(done('transient', 'the upstream stream ended without [DONE]'));
      }
      res.end();
      finish(doneAsRelayed());
    }

    function onError(e: unknown): void {
      if (!st.committed) return finish(classifyThrown(e, ctx, attemptSignal));
      // The whole answer, [DONE] included, was relayed: what breaks after it is not the caller's loss.
      if (st.ended) return finish(doneAsRelayed());
      const why = abortKind(attemptSignal) ?? abortKind(ctx.signal);
      if (why === 'client_gone') {
        if (!res.destroyed) res.destroy();
        return finish(done('canceled', 'the client went away'));
      }
      const f = classifyThrown(e, ctx, attemptSignal);
      const code = f.cls === 'timeout' ? 'upstream_timeout' : 'upstream_error';
      if (!res.destroyed) res.end(errorEvent(`The upstream stream failed after it started: ${f.message}.`, 'upstream_error', code));
      finish(done(f.cls, f.message));
    }

    body.start({ data: onData, end: onEnd, error: onError });

    /** Done, with what the stream itself said (an error event passed on after commit, or nothing). */
    function doneAsRelayed(): AttemptResult {
      return done(st.inband?.cls ?? null, st.inband?.message ?? null);
    }

    function done(cls: FailureClass | null, message: string | null): AttemptResult {
      return {
        type: 'done', status: 200, cls, message, usage: st.usage, ttftMs: st.contentAt !== 0 ? st.contentAt - ctx.t0 : null,
        endedAt: performance.now(), response: assembler?.result(),
      };
    }
  }
}
