"""The staple read in a real TLS handshake: a local pyOpenSSL server staples a response built by cryptography.

The server is OpenSSL's own stapling (the server-side status callback), on 127.0.0.1: fetch_staple must read
exactly the bytes it staples, with the chain it sends; tls_verify, run as a real module process, must report
the judged staple per target and cost no second handshake for a certificate without an OCSP URL.
"""

import datetime
import socket
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp as x509_ocsp
from OpenSSL import SSL

from ansible_collections.certfleet.tls.plugins.module_utils._tls import staple
from test_staple import LEAF, LEAF_KEY, ROOT, issue, response  # pylint: disable=wrong-import-order

UTC = datetime.timezone.utc
ISO = "%Y-%m-%dT%H:%M:%SZ"


class StaplingServer:
    """TLS on 127.0.0.1:<free port> serving ``cert`` + ``chain``; staples ``staple`` when asked (b"": none).

    ``handshakes`` counts the connections and ``asked`` those whose client sent status_request."""

    def __init__(self, key, cert, chain=(), staple_der=b""):
        self.handshakes, self.asked = 0, 0
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.use_certificate(cert)
        context.use_privatekey(key)
        for extra in chain:
            context.add_extra_chain_cert(extra)

        def on_status_request(_connection, _data):
            self.asked += 1
            return staple_der  # b"": OpenSSL sends no staple
        context.set_ocsp_server_callback(on_status_request)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, args=(context,), daemon=True).start()

    def _serve(self, context):
        while True:
            try:
                sock, _peer = self.listener.accept()
            except OSError:
                return
            self.handshakes += 1
            connection = SSL.Connection(context, sock)
            connection.set_accept_state()
            try:
                connection.do_handshake()
                connection.shutdown()
            except SSL.Error:
                pass
            finally:
                sock.close()

    def close(self):
        self.listener.close()


def site(staple_der, name="www.example.org", ocsp_url="http://ocsp.test/"):
    if name == "www.example.org" and ocsp_url:
        key, cert = LEAF_KEY, LEAF
    else:
        key, cert = issue(ROOT, name, ocsp_url=ocsp_url)
    return StaplingServer(key, cert, [ROOT[1]], staple_der)


def test_fetch_staple_reads_the_stapled_bytes_and_the_served_chain():
    der = response(cert=LEAF)
    server = site(der)
    try:
        stapled, chain = staple.fetch_staple("127.0.0.1", server.port, "www.example.org", timeout=5)
    finally:
        server.close()
    assert stapled == der and server.asked == 1
    assert [c.serial_number for c in chain] == [LEAF.serial_number, ROOT[1].serial_number]


def test_fetch_staple_without_a_staple_gives_empty_bytes():
    server = site(b"")
    try:
        stapled, chain = staple.fetch_staple("127.0.0.1", server.port, "www.example.org", timeout=5)
    finally:
        server.close()
    assert stapled == b"" and server.asked == 1 and chain[0].serial_number == LEAF.serial_number


def test_fetch_staple_times_out_on_a_silent_server():
    silent = socket.create_server(("127.0.0.1", 0))  # accepts (backlog) but never answers the ClientHello
    try:
        started = datetime.datetime.now()
        try:
            staple.fetch_staple("127.0.0.1", silent.getsockname()[1], "www.example.org", timeout=0.5)
        except OSError as error:
            assert "timed out during the TLS handshake with 127.0.0.1:" in str(error)
        else:
            raise AssertionError("a silent server gave a staple")
        assert (datetime.datetime.now() - started).total_seconds() < 3
    finally:
        silent.close()


def test_tls_verify_reports_the_served_staple_per_target(module_runner, tmp_path):
    bundle = tmp_path / "root.pem"
    bundle.write_bytes(ROOT[1].public_bytes(serialization.Encoding.PEM))
    good_der = response(cert=LEAF)
    revoked_key, revoked_cert = issue(ROOT, "revoked.example.org")
    revoked_at = datetime.datetime.now(UTC).replace(microsecond=0) - datetime.timedelta(hours=2)
    servers = {
        "good": site(good_der),
        "revoked": StaplingServer(revoked_key, revoked_cert, [ROOT[1]], response(
            cert=revoked_cert, status=x509_ocsp.OCSPCertStatus.REVOKED, revocation_time=revoked_at)),
        "none": site(b"", name="plain.example.org"),
        "no_url": site(good_der, name="nourl.example.org", ocsp_url=None),
    }
    names = {"good": "www.example.org", "revoked": "revoked.example.org", "none": "plain.example.org",
             "no_url": "nourl.example.org"}
    targets = [{"name": key, "address": "127.0.0.1", "port": server.port, "server_name": names[key]}
               for key, server in servers.items()]
    try:
        result = module_runner("tls_verify", dict(targets=targets, ca_bundle=str(bundle), wait=0))
        counts = {key: (server.handshakes, server.asked) for key, server in servers.items()}
        off = module_runner("tls_verify", dict(targets=targets[:1], ca_bundle=str(bundle), wait=0,
                                               check_staple=False))
    finally:
        for server in servers.values():
            server.close()
    assert not result.get("failed"), result
    by_name = {entry["name"]: entry["staple"] for entry in result["results"]}
    good = x509_ocsp.load_der_ocsp_response(good_der)
    assert by_name["good"]["outcome"] == "verified" and by_name["good"]["status"] == "good"
    assert by_name["good"]["next_update"] == good.next_update_utc.strftime(ISO)
    assert by_name["revoked"]["outcome"] == "verified" and by_name["revoked"]["status"] == "revoked"
    assert by_name["revoked"]["revocation_time"] == revoked_at.strftime(ISO)
    assert by_name["none"]["outcome"] == "not_stapled" and by_name["none"]["present"] is False
    assert by_name["no_url"]["outcome"] == "no_responder" and by_name["no_url"]["present"] is None
    # one handshake (Python's ssl) for the certificate without an OCSP URL, two for the others
    assert counts == {"good": (2, 1), "revoked": (2, 1), "none": (2, 1), "no_url": (1, 0)}
    assert all(entry["verified"] for entry in result["results"])  # a revoked staple does not change verified
    # check_staple=false: no staple entry and no second handshake
    assert "staple" not in off["results"][0] and off["results"][0]["verified"]
    assert servers["good"].handshakes == 3 and servers["good"].asked == 1
