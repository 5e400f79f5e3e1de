// Scoring reads the whole number: the authors' code compares only the last character, which
// counts "Final answer: 13" as right for 3.

const MARKER = 'Final answer:';

/**
 * The integer after the last `Final answer:`; without that marker, the text itself when it is
 * just a number (the `none` format). Null when nothing parses, including a last marker followed
 * by no number, since earlier markers are not the model's final claim.
 */
export function parseAnswer(text: string): number | null {
  const at = text.lastIndexOf(MARKER);
  if (at >= 0) {
    const m = /^[ \t]*(\d+)\b/.exec(text.slice(at + MARKER.length));
    return m ? Number(m[1]) : null;
  }
  const bare = text.trim();
  return /^\d+$/.test(bare) ? Number(bare) : null;
}

export function isCorrect(generated: string, answer: number): boolean {
  return parseAnswer(generated) === answer;
}
