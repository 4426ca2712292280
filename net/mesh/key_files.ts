/**
 * The daemon's keys on disk, in its data dir (I/O):
 * - `signing-key`: this peer's Ed25519 seed (base64url), 0600, created once and atomically, so a
 *   restarted peer keeps its identity and every peer that bound its key keeps accepting it;
 * - `peer-keys.json`: the keys bound to other peers' names and the revoked ones (keys.ts), so
 *   trust on first use survives this peer's restarts too. Written atomically when it changed.
 */
import { describeCause } from "../cause.ts";
import { Buffer } from "node:buffer";
import type { Logger } from "../log.ts";
import type { KeysSnapshot, PeerKeys } from "./keys.ts";
import { SigningKey } from "./signing.ts";
import { z } from "zod";
import { WeavetsError } from "../errors.ts";

export const SIGNING_KEY_FILE = "signing-key";
export const PEER_KEYS_FILE = "peer-keys.json";

export class KeyFileError extends WeavetsError {
  override name = "KeyFileError";
  constructor(message: string, opts?: { cause?: unknown }) {
    super("config", message, opts);
  }
}

/** Loads this peer's signing key, creating it (0600, atomically) on first start. */
export function loadOrCreateSigningKey(datadir: string, log: Logger): SigningKey {
  const file = `${datadir}/${SIGNING_KEY_FILE}`;
  const existing = readKey(file, log);
  if (existing) return existing;
  const key = SigningKey.generate();
  // Written under a temporary name, then linked into place: the file is complete or absent, and
  // of two processes racing, the second reads the first's key.
  const tmp = `${file}.${Deno.pid}.tmp`;
  try {
    writeSecret(tmp, Buffer.from(key.seed()).toString("base64url") + "\n");
    try {
      Deno.linkSync(tmp, file);
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      return readKey(file, log)!;
    }
    syncDir(datadir);
  } finally {
    try {
      Deno.removeSync(tmp);
    } catch {
      // already gone
    }
  }
  log.info("generated this peer's signing key", { file });
  return key;
}

function readKey(file: string, log: Logger): SigningKey | null {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  const mode = Deno.statSync(file).mode;
  if (mode !== null && (mode & 0o077) !== 0) {
    Deno.chmodSync(file, 0o600);
    log.warn("the signing key file was readable by others: made it 0600", { file });
  }
  const t = text.trim();
  if (!/^[A-Za-z0-9_-]{43}$/.test(t)) {
    throw new KeyFileError(
      `${file} is not a signing key (43 characters of base64url). Restore it from a backup; ` +
        "or remove it to make a new identity, then run rmpeer for this peer on the other peers " +
        "(with --kube, the new key is published on the Node and accepted at once)",
    );
  }
  return SigningKey.fromSeed(new Uint8Array(Buffer.from(t, "base64url")));
}

function writeSecret(path: string, text: string): void {
  const f = Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
  try {
    f.writeSync(new TextEncoder().encode(text));
    f.syncSync();
  } finally {
    f.close();
  }
}

function syncDir(dir: string): void {
  try {
    const d = Deno.openSync(dir, { read: true });
    try {
      d.syncSync();
    } finally {
      d.close();
    }
  } catch {
    // best effort: the link itself is atomic
  }
}

const snapshotSchema = z.object({
  format: z.literal(1),
  bindings: z.array(z.tuple([z.string(), z.string()])).max(100_000),
  revoked: z.array(z.tuple([z.string(), z.string(), z.number()])).max(100_000),
});

/**
 * Restores `keys` from the data dir, then saves them every `intervalMs` when they changed; `stop`
 * saves a last time. A missing file is a first start; an unreadable one is logged and replaced.
 */
export function persistPeerKeys(
  keys: PeerKeys,
  datadir: string,
  log: Logger,
  intervalMs = 5_000,
): { save(): void; stop(): void } {
  const file = `${datadir}/${PEER_KEYS_FILE}`;
  try {
    const snap = snapshotSchema.parse(JSON.parse(Deno.readTextFileSync(file)));
    keys.restore(snap as KeysSnapshot, Date.now());
    log.info("restored peers' keys", { file, peers: snap.bindings.length });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      log.error("cannot read the peers' keys: starting without them (trust on first use again)", {
        file,
        error: describeCause(e),
      });
    }
  }
  let saved = keys.revision;
  const save = () => {
    if (keys.revision === saved) return;
    const rev = keys.revision;
    const tmp = `${file}.${Deno.pid}.tmp`;
    try {
      Deno.writeTextFileSync(tmp, JSON.stringify({ format: 1, ...keys.snapshot() }), {
        mode: 0o600,
      });
      Deno.renameSync(tmp, file);
      saved = rev;
    } catch (e) {
      log.error("cannot save the peers' keys", { file, error: describeCause(e) });
    }
  };
  const timer = setInterval(save, intervalMs);
  return {
    save,
    stop() {
      clearInterval(timer);
      save();
    },
  };
}
