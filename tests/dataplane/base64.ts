/** Base64 for the test drivers' JSON lines (node:buffer; @std is unreachable). */
import { Buffer } from "node:buffer";

export const encodeBase64 = (b: Uint8Array): string => Buffer.from(b).toString("base64");
export const decodeBase64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));
