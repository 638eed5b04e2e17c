"""Verification over TLS against a local TLS server (Python's ssl), with real certificates."""

import datetime
import os
import socket
import ssl
import threading

from cryptography.hazmat.primitives import serialization

from certutil import make_ca, make_leaf, pem
from ansible_collections.certfleet.tls.plugins.module_utils._tls import probe

UTC = datetime.timezone.utc


def serve(tmp_path, cert, key, ca_cert):
    (tmp_path / "chain.pem").write_text(pem(cert) + pem(ca_cert))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "chain.pem"), str(tmp_path / "key.pem"))
    listener = socket.create_server(("127.0.0.1", 0))

    def loop():
        while True:
            try:
                conn, dummy = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass
    threading.Thread(target=loop, daemon=True).start()
    return listener


def setup(tmp_path, names):
    from cryptography.hazmat.primitives.asymmetric import ec
    ca = make_ca("Probe Root")
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_leaf(ca, names, datetime.datetime.now(UTC) - datetime.timedelta(hours=1), 30, key=key)
    (tmp_path / "root.pem").write_text(pem(ca[1]))
    return cert, serve(tmp_path, cert, key, ca[1])


def test_verified_chain_name_and_serial(tmp_path):
    cert, listener = setup(tmp_path, ["www.example.org"])
    port = listener.getsockname()[1]
    target = {"address": "127.0.0.1", "port": port, "server_name": "www.example.org",
              "expect_serial": "%x" % cert.serial_number}
    result = probe.verify_target(target, str(tmp_path / "root.pem"), wait=0)
    assert result["verified"] and result["chain_verified"] and result["issuer"] == "Probe Root"
    wrong = probe.verify_target(dict(target, expect_serial="abc"), str(tmp_path / "root.pem"), wait=0)
    assert not wrong["verified"] and "expected abc" in wrong["error"]
    listener.close()


def test_untrusted_chain_fails_unless_chain_check_is_off(tmp_path):
    cert, listener = setup(tmp_path, ["www.example.org"])
    target = {"address": "127.0.0.1", "port": listener.getsockname()[1], "server_name": "www.example.org"}
    result = probe.verify_target(target, None, wait=0)  # system store: the test root is unknown
    assert not result["verified"] and "verification failed" in result["error"]
    assert result["serial"] == "%x" % cert.serial_number  # the report still says what is served
    relaxed = probe.verify_target(target, None, wait=0, verify_chain=False)
    assert relaxed["verified"] and relaxed["chain_verified"] is False
    other = probe.verify_target(dict(target, server_name="other.example.org"), None, wait=0, verify_chain=False)
    assert not other["verified"] and "not other.example.org" in other["error"]
    listener.close()


def test_nothing_listening_is_reported(tmp_path):
    result = probe.verify_target({"address": "127.0.0.1", "port": 9, "server_name": "x.example.org"}, None, wait=0)
    assert not result["verified"] and "failed" in result["error"]
    assert not os.path.exists(tmp_path / "nothing")


def test_served_leaf_returns_the_untrusted_leaf_or_says_why_not(tmp_path):
    cert, listener = setup(tmp_path, ["www.example.org"])
    port = listener.getsockname()[1]
    served, why = probe.served_leaf("127.0.0.1", port, "www.example.org")
    assert served == cert and why is None  # no chain check: the test root is in no store
    listener.close()
    served, why = probe.served_leaf("127.0.0.1", 9, "x.example.org", timeout=2)
    assert served is None and "127.0.0.1:9 (SNI x.example.org) failed" in why
