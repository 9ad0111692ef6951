#!/usr/bin/env python3
# rogue_peer.py — a peer that should not be listened to, for peer_tls_test.sh:
# connects to a coraft-kv raft port over TLS with a given certificate, says
# hello as node CLAIM, then sends TIMEOUT_NOW TimeoutNow messages to node TO
# in term TERM (the frame format of net/include/coraft/net/frame.hpp).
# Prints "refused" when the node closes the connection, "open" otherwise.
#   rogue_peer.py HOST PORT CLAIM TO --cert C --key K --ca CA [--term T] [--timeout-now N]
import argparse, socket, ssl, struct, time

p = argparse.ArgumentParser()
p.add_argument("host"); p.add_argument("port", type=int)
p.add_argument("claim", type=int); p.add_argument("to", type=int)
p.add_argument("--cert", required=True); p.add_argument("--key", required=True); p.add_argument("--ca", required=True)
p.add_argument("--term", type=int, default=1); p.add_argument("--timeout-now", type=int, default=0)
p.add_argument("--cluster", default="coraft")
a = p.parse_args()

def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF

def frame(kind, body):  # magic "CRFT", version 3, type, flags, length, crc32c of the body
    return struct.pack("<IBBHII", 0x54465243, 3, kind, 0, len(body), crc32c(body)) + body

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.load_verify_locations(a.ca)
ctx.load_cert_chain(a.cert, a.key)
s = ctx.wrap_socket(socket.create_connection((a.host, a.port), timeout=5))
cid = a.cluster.encode()
s.sendall(frame(1, struct.pack("<H", len(cid)) + cid + struct.pack("<Q", a.claim)))
try:
    for _ in range(a.timeout_now):
        # message: from, to, term, body tag 7 (timeout_now)
        s.sendall(frame(2, struct.pack("<QQQB", a.claim, a.to, a.term, 7)))
        time.sleep(0.05)
    s.settimeout(2)
    print("refused" if s.recv(1) == b"" else "open")
except (ConnectionError, ssl.SSLError, OSError) as e:
    print("refused" if not isinstance(e, socket.timeout) else "open")
