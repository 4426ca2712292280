#!/usr/bin/env python3
"""An independent implementation of the weavets v2 handshake key schedule and frame encodings
(docs/PROTOCOL.md §1-3), with Python's hashlib and the `cryptography` package. Prints the
known-answer vectors as JSON; net/mesh/wire_vectors_test.ts compares them with its own."""
import hashlib, json, struct
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
import base64

RAW = (serialization.Encoding.Raw, serialization.PublicFormat.Raw)

def hkdf(ikm, salt, info, n=32):
    return HKDF(algorithm=hashes.SHA256(), length=n, salt=salt, info=info).derive(ikm)

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def hello(pub, auth=True, lo=2, hi=2):
    return b"weavets" + bytes([lo, hi, 1 if auth else 0]) + pub

def frame(b):
    return struct.pack(">I", len(b)) + b

def name_bytes(n):
    return bytes(int(x, 16) for x in n.split(":"))

PASSWORD = "correct horse battery staple"
client_priv = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
server_priv = X25519PrivateKey.from_private_bytes(bytes(range(33, 65)))
client_pub = client_priv.public_key().public_bytes(*RAW)
server_pub = server_priv.public_key().public_bytes(*RAW)
signer = Ed25519PrivateKey.from_private_bytes(bytes(range(65, 97)))
sign_pub = signer.public_key().public_bytes(*RAW)

psk = hashlib.scrypt(PASSWORD.encode(), salt=b"weavets v2 psk", n=2**15, r=8, p=1,
                     maxmem=64 * 1024 * 1024, dklen=32)
ch, sh = hello(client_pub), hello(server_pub)
th = hashlib.sha256(b"weavets v2 transcript\0" + ch + sh).digest()
shared = client_priv.exchange(X25519PrivateKey.from_private_bytes(bytes(range(33, 65))).public_key())
assert shared == server_priv.exchange(client_priv.public_key())
label = lambda l: ("weavets v2 %s\0" % l).encode() + th
c2s = hkdf(shared, psk, label("c2s"))
s2c = hkdf(shared, psk, label("s2c"))
data = hkdf(shared, psk, label("data"))
data_id = hkdf(shared, psk, label("data id"), 8)
c2s_next = hkdf(c2s, b"", b"weavets v2 rekey\0")

NAME = "02:00:00:00:00:01"
proof = bytes([1]) + th + NAME.encode()
sig = signer.sign(b"weavets-sig\0" + b"mesh/handshake" + b"\0" + proof)
identity = {"name": NAME, "nickname": "a", "uid": "0123456789abcdef", "port": 6783,
            "key": b64u(sign_pub), "sig": b64u(sig)}
identity_msg = bytes([1]) + json.dumps(identity, separators=(",", ":")).encode()
# The same identity from a server that trusts the client (--trusted-subnets): role byte 2 + 2.
proof_trusted = bytes([4]) + th + NAME.encode()
sig_trusted = signer.sign(b"weavets-sig\0" + b"mesh/handshake" + b"\0" + proof_trusted)
identity_trusted = dict(identity, sig=b64u(sig_trusted), trusted=True)
identity_trusted_msg = bytes([1]) + json.dumps(identity_trusted, separators=(",", ":")).encode()
nonce0 = bytes(12)
sealed_identity = ChaCha20Poly1305(c2s).encrypt(nonce0, identity_msg, None)
nonce1 = bytes(4) + struct.pack(">Q", 1)
sealed_heartbeat_1 = ChaCha20Poly1305(c2s).encrypt(nonce1, bytes([0]), None)

A, B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
ch_topo = b"topology"
frames = {
    "heartbeat": bytes([0]),
    "identity": identity_msg,
    "gossip": bytes([2, len(ch_topo)]) + ch_topo + b"\x01\x02",
    "broadcast": bytes([3, len(ch_topo)]) + ch_topo + name_bytes(A) + b"\x01\x02",
    "unicast": bytes([4, 4]) + b"ipam" + name_bytes(A) + name_bytes(B) + bytes([3]) + b"\x01\x02",
    "digest": bytes([5, len(ch_topo)]) + ch_topo + bytes([1]) + b"\x01\x02",
    "rekey": bytes([6]),
}
print(json.dumps({
    "client_public": client_pub.hex(),
    "server_public": server_pub.hex(),
    "signing_public": sign_pub.hex(),
    "psk": psk.hex(),
    "client_hello": ch.hex(),
    "server_hello": sh.hex(),
    "transcript": th.hex(),
    "shared": shared.hex(),
    "c2s": c2s.hex(),
    "s2c": s2c.hex(),
    "data": data.hex(),
    "data_id": data_id.hex(),
    "c2s_after_rekey": c2s_next.hex(),
    "identity_signature": sig.hex(),
    "sealed_identity_frame": frame(sealed_identity).hex(),
    "identity_trusted_signature": sig_trusted.hex(),
    "identity_trusted": identity_trusted_msg.hex(),
    "sealed_heartbeat_1": sealed_heartbeat_1.hex(),
    "messages": {k: v.hex() for k, v in frames.items()},
}, indent=2))
