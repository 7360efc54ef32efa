/**
 * The hand-written parts of BENCHMARKS.md, kept when a run rewrites the file: a run writes its tables,
 * and people write what the tables mean. Two blocks, each between two HTML comments on lines of their
 * own, which rendered Markdown does not show:
 *
 * - `run`: notes on one run (what to read with care, how it compares with others), stamped with the
 *   date of the run they are about (`<!-- notes:run about="2026-12-07 00:18 UTC" -->`). Kept after
 *   the budget table; when a newer run rewrites the file, a line above them says that they are about
 *   an older run, until someone updates them and the stamp.
 * - `analysis` (`<!-- notes:analysis -->`): where the time goes and what the fixes bought, about the
 *   code rather than one run. Kept at the end of the file.
 *
 * Each ends at `<!-- /notes:NAME -->` on a line of its own. Inside a block any other text is kept as
 * written, marker-like text included. A file whose markers do not pair up (a block not closed, one
 * written twice, a marker mistyped outside a block) is not rewritten: the bench says what is wrong
 * before it measures anything (bench/run.ts), so no hand-written text is lost to a typo.
 */

export type NoteName = 'run' | 'analysis';

export interface Note {
  /** The text between the markers, without the newlines next to them. */
  text: string;
  /** For `run`: the date of the run the notes are about, as the report writes it (`2026-12-07 00:18 UTC`). */
  about?: string;
}

export type Notes = Partial<Record<NoteName, Note>>;

export interface ReadNotes {
  notes: Notes;
  /** What is wrong with the markers (empty when the file can be rewritten without losing text). */
  problems: string[];
}

const OPEN = /^<!-- notes:(run|analysis)(?: about="([^"]*)")? -->$/;
const CLOSE = /^<!-- \/notes:(run|analysis) -->$/;
/** Anything that looks like a marker, to catch mistyped ones outside the blocks. */
const MARKERISH = /<!--\s*\/?\s*notes:/;

/** The hand-written blocks of a BENCHMARKS.md, and what is wrong with its markers. */
export function readNotes(md: string): ReadNotes {
  const lines = md.replace(/\r\n/g, '\n').split('\n');
  const notes: Notes = {};
  const problems: string[] = [];
  let open: { name: NoteName; about: string | undefined; from: number } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (open !== null) {
      if (l === `<!-- /notes:${open.name} -->`) {
        const text = lines.slice(open.from, i).join('\n');
        if (notes[open.name] !== undefined) problems.push(`a second "${open.name}" block at line ${open.from}`);
        else notes[open.name] = open.about !== undefined ? { text, about: open.about } : { text };
        open = null;
      }
      continue;
    }
    const m = OPEN.exec(l);
    if (m) open = { name: m[1] as NoteName, about: m[2], from: i + 1 };
    else if (CLOSE.test(l)) problems.push(`a closing marker with no block open at line ${i + 1}`);
    else if (MARKERISH.test(l)) problems.push(`a marker not written as \`<!-- notes:run about="…" -->\`, \`<!-- notes:analysis -->\` or \`<!-- /notes:… -->\` on a line of its own, at line ${i + 1}`);
  }
  if (open !== null) problems.push(`the "${open.name}" block that opens at line ${open.from} is not closed`);
  return { notes, problems };
}

/** Text with nothing but HTML comments and blank space: the placeholder of an empty block. */
function isEmpty(text: string | undefined): boolean {
  return text === undefined || text.replace(/<!--[\s\S]*?-->/g, '').trim() === '';
}

/**
 * A block for the report of the run of `date`: the kept text between its markers, or, without one,
 * an empty block with a comment that says what belongs there.
 */
export function renderNote(name: NoteName, note: Note | undefined, date: string): string[] {
  if (name === 'run') {
    if (note === undefined || isEmpty(note.text)) {
      return [`<!-- notes:run about="${date}" -->`, '<!-- Notes on this run, written by hand: what to read with care, how it compares with other runs. Kept when a run rewrites this file; set the date in the marker above to the run they are about. -->', '<!-- /notes:run -->', ''];
    }
    // Outside the block, so that it is written anew by every run and never kept.
    const stale = note.about === undefined
      ? ['> The notes below do not say which run they are about (their marker has no `about` date); the figures above are from the run of ' + date + '.', '']
      : note.about !== date ? [`> The notes below are about the run of ${note.about}; the figures above are from the run of ${date}.`, ''] : [];
    const marker = note.about === undefined ? '<!-- notes:run -->' : `<!-- notes:run about="${note.about}" -->`;
    return [...stale, marker, note.text, '<!-- /notes:run -->', ''];
  }
  const text = isEmpty(note?.text) ? '<!-- Where the time goes and what each fix bought, written by hand: kept when a run rewrites this file. -->' : note!.text;
  return ['<!-- notes:analysis -->', text, '<!-- /notes:analysis -->', ''];
}
