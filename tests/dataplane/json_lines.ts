/** The test drivers' control channel: one JSON message per line on stdin. */
export async function* jsonLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<
  // deno-lint-ignore no-explicit-any
  any
> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.trim()) yield JSON.parse(line);
    }
  }
}
