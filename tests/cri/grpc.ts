/**
 * Unary gRPC calls over HTTP/2 cleartext on a Unix socket (how kubelet talks to a CRI runtime),
 * with node:http2. Framing per the gRPC over HTTP/2 protocol: each message is a 1-byte
 * compressed flag (always 0 here) and a 4-byte big-endian length; the status comes in the
 * trailers (`grpc-status`, `grpc-message`), or in the headers of a trailers-only answer.
 */
import http2 from "node:http2";
import net from "node:net";

/** A call that ended with a non-zero grpc-status. */
export class GrpcError extends Error {
  override name = "GrpcError";
  constructor(readonly method: string, readonly code: number, readonly detail: string) {
    super(`${method}: gRPC status ${code}: ${detail}`);
  }
}

export class GrpcClient {
  #session: http2.ClientHttp2Session | undefined;

  constructor(readonly socketPath: string) {}

  #connect(): http2.ClientHttp2Session {
    if (this.#session && !this.#session.closed && !this.#session.destroyed) return this.#session;
    const session = http2.connect("http://localhost", {
      createConnection: () => net.connect(this.socketPath),
    });
    // A refused or dropped connection fails the calls in flight; the next call reconnects.
    session.on("error", () => {});
    session.on("close", () => {
      if (this.#session === session) this.#session = undefined;
    });
    this.#session = session;
    return session;
  }

  /** Calls `/service/method` with an encoded request; returns the encoded response. */
  call(method: string, request: Uint8Array, timeoutMs = 60_000): Promise<Uint8Array> {
    const session = this.#connect();
    const framed = new Uint8Array(5 + request.length);
    new DataView(framed.buffer).setUint32(1, request.length);
    framed.set(request, 5);
    return new Promise((resolve, reject) => {
      const chunks: Uint8Array[] = [];
      let status: string | undefined;
      let detail = "";
      const stream = session.request({
        ":method": "POST",
        ":path": method,
        "content-type": "application/grpc",
        te: "trailers",
        "grpc-timeout": `${Math.ceil(timeoutMs)}m`,
      });
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        reject(new GrpcError(method, 4, `no answer in ${timeoutMs} ms`));
      }, timeoutMs + 1000);
      const take = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] !== undefined) status = String(h["grpc-status"]);
        if (h["grpc-message"] !== undefined) {
          detail = decodeURIComponent(String(h["grpc-message"]));
        }
      };
      stream.on("response", take);
      stream.on("trailers", take);
      stream.on("data", (c: Uint8Array) => chunks.push(c));
      stream.on("error", (e: Error) => {
        clearTimeout(timer);
        reject(new GrpcError(method, 14, `transport: ${e.message}`));
      });
      stream.on("close", () => {
        clearTimeout(timer);
        if (status === undefined) {
          return reject(new GrpcError(method, 14, "stream closed without a grpc-status"));
        }
        if (status !== "0") return reject(new GrpcError(method, Number(status), detail));
        const body = concat(chunks);
        if (body.length < 5) return resolve(new Uint8Array());
        const len = new DataView(body.buffer, body.byteOffset).getUint32(1);
        if (body[0] !== 0 || body.length < 5 + len) {
          return reject(new GrpcError(method, 13, "malformed response frame"));
        }
        resolve(body.subarray(5, 5 + len));
      });
      stream.end(framed);
    });
  }

  close(): void {
    this.#session?.close();
    this.#session = undefined;
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
