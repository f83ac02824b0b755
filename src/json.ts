/** JSON files people edit by hand (the config file, the state file): read leniently, explained exactly. */

/**
 * Parses `text` as JSON, without the UTF-8 byte order mark some editors write first. A syntax error
 * is rethrown with its line and column added to JSON.parse's message.
 */
export function parseJsonFile(text: string): unknown {
  const body = text.replace(/^\uFEFF/, '');
  try {
    return JSON.parse(body);
  } catch (error) {
    const message = (error as Error).message;
    const at = errorOffset(body, message);
    if (at === undefined) throw error;
    const before = body.slice(0, at);
    const line = before.split('\n').length;
    const column = before.length - before.lastIndexOf('\n');
    throw new SyntaxError(`${message} (line ${line}, column ${column})`);
  }
}

/**
 * Where the syntax error is. JSON.parse names a position for some errors only; otherwise the
 * shortest prefix of the text that is already wrong (and not merely unfinished) ends there.
 */
function errorOffset(body: string, message: string): number | undefined {
  const named = /at position (\d+)/.exec(message);
  if (named) return Number(named[1]);
  if (/end of JSON input/.test(message)) return body.length;
  const wrong = (length: number) => {
    try {
      JSON.parse(body.slice(0, length));
      return false;
    } catch (error) {
      // A prefix that is merely unfinished fails at its very end.
      const text = (error as Error).message;
      if (/end of JSON input/.test(text)) return false;
      const position = /at position (\d+)/.exec(text);
      return !position || Number(position[1]) < length;
    }
  };
  let low = 0;
  let high = body.length;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (wrong(middle)) high = middle;
    else low = middle + 1;
  }
  return low > 0 ? low - 1 : undefined;
}
