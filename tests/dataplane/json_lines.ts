/** The test drivers' channels: text split into lines, and one JSON message per line. */

/** Each line of `stream` (without its newline), as it arrives. */
export async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
}

/** Each non-blank line of `stream`, parsed as JSON. */
export async function* jsonLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<
  // deno-lint-ignore no-explicit-any
  any
> {
  for await (const line of lines(stream)) if (line.trim()) yield JSON.parse(line);
}
