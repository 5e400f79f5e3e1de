// Quoting user data in error messages: a bad token or field can be a whole megabyte of garbage,
// and the message must still fit on a screen.

const LIMIT = 40;

/** `"text"`, or its first characters and its length when it is long. */
export function quote(text: string): string {
  return text.length > LIMIT ? `${JSON.stringify(text.slice(0, LIMIT))}... (${text.length} characters)` : JSON.stringify(text);
}
