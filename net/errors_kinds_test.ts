/**
 * Every domain error class has the kind its callers' mappings (CNI code, HTTP status, exit code,
 * log level) rely on; a class that forgets to extend WeavetsError falls to `internal` and fails.
 */
import assert from "node:assert/strict";
import { type ErrorKind, kindOf } from "./errors.ts";
import { AddrError } from "./addr/ipv4.ts";
import { ListenAddressError } from "./api/listen_address.ts";
import { TemplateError } from "./api/go_template.ts";
import { ConfigError } from "./daemon/config_error.ts";
import { BridgeError } from "./dataplane/node/bridge.ts";
import { AeadError } from "./dataplane/sleeve/aead.ts";
import { SleeveFormatError } from "./dataplane/sleeve/format.ts";
import { SleeveKeyError } from "./dataplane/sleeve/keys.ts";
import { IpamConfigError } from "./ipam/init_mode.ts";
import { RingConflictError } from "./ipam/ring.ts";
import { IpamUnavailable } from "./ipam/service.ts";
import { StoreError } from "./ipam/store.ts";
import { IpamWireVersionError } from "./ipam/wire.ts";
import { KubeConfigError } from "./kube/config.ts";
import { PeerListError } from "./kube/peers.ts";
import { KubeSecretError } from "./kube/secrets.ts";
import { NftError } from "./linux/nftables.ts";
import { CodecError } from "./mesh/codec.ts";
import { CryptoError } from "./mesh/crypto.ts";
import { HandshakeError } from "./mesh/handshake.ts";
import { KeyFileError } from "./mesh/key_files.ts";
import { PeerNameError } from "./mesh/peer_name.ts";
import { SigningKeyError } from "./mesh/signing.ts";
import { TopologyDecodeError } from "./mesh/topology.ts";
import { TooManyClassesError } from "./npc/classes.ts";

Deno.test("errors: each domain error class has its kind", () => {
  const table: Array<[Error, ErrorKind]> = [
    [new AddrError("x"), "invalid-input"],
    [new ListenAddressError("x"), "config"],
    [new TemplateError("x"), "invalid-input"],
    [new ConfigError("x"), "config"],
    [new BridgeError("x"), "system"],
    [new AeadError("x"), "invalid-input"],
    [new SleeveFormatError("x"), "invalid-input"],
    [new SleeveKeyError("x"), "invalid-input"],
    [new IpamConfigError("x"), "config"],
    [new RingConflictError("x"), "conflict"],
    [new IpamUnavailable("x"), "unavailable"],
    [new StoreError("x"), "system"],
    [new IpamWireVersionError("x"), "invalid-input"],
    [new KubeConfigError("x"), "config"],
    [new PeerListError("x"), "invalid-input"],
    [new KubeSecretError("x"), "config"],
    [new NftError("x"), "system"],
    [new CryptoError("x"), "invalid-input"],
    [new KeyFileError("x"), "config"],
    [new PeerNameError("x"), "invalid-input"],
    [new SigningKeyError("x"), "invalid-input"],
    [new TopologyDecodeError("x"), "invalid-input"],
    [new TooManyClassesError("x"), "too-large"],
  ];
  for (const [e, want] of table) {
    assert.equal(kindOf(e), want, e.name);
    assert.equal(e.message, "x");
  }
  // The name stays the class's (logs and tests read it).
  assert.equal(new ConfigError("x").name, "ConfigError");
});

Deno.test("errors: a mesh codec or handshake error's kind follows its refusal", () => {
  assert.equal(kindOf(new CodecError("bad tag")), "invalid-input");
  assert.equal(kindOf(new CodecError("frame of 9 MB", "frame-too-large")), "too-large");
  assert.equal(kindOf(new CodecError("over budget", "frame-budget")), "too-large");
  assert.equal(kindOf(new HandshakeError("wrong password", true, "auth-failed")), "config");
  assert.equal(kindOf(new HandshakeError("no hello", false, "handshake-timeout")), "unavailable");
  assert.equal(kindOf(new HandshakeError("bad magic")), "invalid-input");
  assert.equal(new HandshakeError("bad magic").refusal, "handshake-failed");
});
