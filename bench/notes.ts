/**
 * The hand-written parts of BENCHMARKS.md, kept when a run rewrites the file: a run writes its tables,
 * and people write what the tables mean. Two blocks, each between a pair of HTML comments that the
 * rendered Markdown does not show:
 *
 * - `run`: notes on one run (what to read with care, how it compares with others), stamped with the
 *   date of the run they are about. Kept after the budget table; when a newer run rewrites the file,
 *   a line above them says that they are about an older run, until someone updates them (and the
 *   stamp).
 * - `analysis`: where the time goes and what the fixes bought: about the code, not one run. Kept at
 *   the end of the file.
 *
 * The blocks are read from the file being replaced, so `npm run bench` never loses them.
 */

export type NoteName = 'run' | 'analysis';

export interface Note {
  /** The text between the markers, without the newlines next to them. */
  text: string;
  /** For `run`: the date of the run the notes are about, as the report writes it (`2026-12-07 00:18 UTC`). */
  about?: string;
}

export type Notes = Partial<Record<NoteName, Note>>;

const OPEN = /<!-- notes:(run|analysis)(?: about="([^"]*)")? -->\n?/g;

/** The hand-written blocks of a BENCHMARKS.md (none when it has no markers, or a block is not closed). */
export function readNotes(md: string): Notes {
  const out: Notes = {};
  for (const m of md.matchAll(OPEN)) {
    const name = m[1] as NoteName;
    if (out[name] !== undefined) continue;
    const start = m.index + m[0].length;
    const close = md.indexOf(`<!-- /notes:${name} -->`, start);
    if (close === -1) continue;
    const text = md.slice(start, close).replace(/\n$/, '');
    out[name] = m[2] !== undefined ? { text, about: m[2] } : { text };
  }
  return out;
}

/**
 * A block for the report of the run of `date`: the kept text between its markers, or, without one,
 * an empty block with a comment that says what belongs there.
 */
export function renderNote(name: NoteName, note: Note | undefined, date: string): string[] {
  if (name === 'run') {
    const empty = note === undefined || note.text.trim() === '';
    const about = (empty ? undefined : note.about) ?? date;
    // Outside the block, so that it is written anew by every run and never kept.
    const stale = about !== date ? [`> The notes below are about the run of ${about}; the figures above are from the run of ${date}.`, ''] : [];
    const text = empty ? '<!-- Notes on this run, written by hand: what to read with care, how it compares with other runs. Kept when a run rewrites this file; set the date in the marker above to the run they are about. -->' : note.text;
    return [...stale, `<!-- notes:run about="${about}" -->`, text, '<!-- /notes:run -->', ''];
  }
  const text = note?.text.trim() ? note.text : '<!-- Where the time goes and what each fix bought, written by hand: kept when a run rewrites this file. -->';
  return ['<!-- notes:analysis -->', text, '<!-- /notes:analysis -->', ''];
}
