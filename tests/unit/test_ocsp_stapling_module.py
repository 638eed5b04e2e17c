"""ocsp_stapling as a real process against a local HTTP responder run by the test.

The responder answers with responses built with cryptography from the request it received, so the module's
request (method, Content-Type, certID) is checked on the way in and its verification on the way out.
"""

import base64
import datetime
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp as x509_ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

UTC = datetime.timezone.utc
NOW = datetime.datetime.now(UTC)
HOUR, DAY = datetime.timedelta(hours=1), datetime.timedelta(days=1)
CLOSED_PORT_URL = "http://127.0.0.1:9/"


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn)).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - DAY)
            .not_valid_after(NOW + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


CA_KEY, CA = _ca("Module Test CA")


def leaf(cn, ocsp_url):
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(CA.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(NOW - DAY)
               .not_valid_after(NOW + 90 * DAY)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False))
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
            AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    return builder.sign(CA_KEY, hashes.SHA256())


def pem(*certs):
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs).decode()


class Responder:
    """An HTTP OCSP responder on 127.0.0.1; ``answer(request) -> (status, content type, body)`` decides."""

    def __init__(self):
        self.requests = []   # (method, content type, parsed OCSPRequest or None)
        self.answer = self.good
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    request = x509_ocsp.load_der_ocsp_request(body)
                except ValueError:
                    request = None
                responder.requests.append(("POST", self.headers.get("Content-Type"), request))
                status, ctype, data = responder.answer(request)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/ocsp" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def respond(self, request, status=x509_ocsp.OCSPCertStatus.GOOD, signer=None, next_update=NOW + DAY,
                this_update=NOW - HOUR, **revocation):
        builder = x509_ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash, issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number, algorithm=request.hash_algorithm, cert_status=status,
            this_update=this_update, next_update=next_update,
            revocation_time=revocation.get("time"), revocation_reason=revocation.get("reason"))
        key, cert = signer or (CA_KEY, CA)
        builder = builder.responder_id(x509_ocsp.OCSPResponderEncoding.NAME, cert)
        return 200, "application/ocsp-response", builder.sign(key, hashes.SHA256()).public_bytes(
            serialization.Encoding.DER)

    def good(self, request):
        return self.respond(request)


@pytest.fixture
def responder():
    server = Responder()
    yield server
    server.close()


@pytest.fixture
def site(responder, tmp_path):
    """A full chain file whose leaf names the test's responder in its AIA."""
    cert = leaf("www.example.org", responder.url)
    path = tmp_path / "fullchain.pem"
    path.write_text(pem(cert, CA))
    return cert, path


def test_good_from_a_full_chain_file(module_runner, responder, site):
    cert, path = site
    result = module_runner("ocsp_stapling", dict(cert_path=str(path)))
    assert not result.get("failed"), result
    assert result["changed"] is False and result["supported"] is True and result["status"] == "good"
    assert result["responder_url"] == responder.url and result["signer"] == "issuer"
    assert result["serial"] == "%x" % cert.serial_number
    assert result["certificate"] == "cert_path %s (CN=www.example.org, serial %x)" % (path, cert.serial_number)
    assert result["revocation_time"] is None and result["revocation_reason"] is None
    assert result["this_update"] and result["next_update"] and result["refresh_at"]
    # What the module sent: one POST of a DER OCSP request for this certificate.
    (method, ctype, request), = responder.requests
    assert method == "POST" and ctype == "application/ocsp-request"
    assert request.serial_number == cert.serial_number and isinstance(request.hash_algorithm, hashes.SHA1)
    # What it returns is the responder's DER, ready for ssl_stapling_file.
    staple = x509_ocsp.load_der_ocsp_response(base64.b64decode(result["response"]))
    assert staple.serial_number == cert.serial_number
    assert staple.certificate_status == x509_ocsp.OCSPCertStatus.GOOD


def test_check_mode_asks_too_and_changes_nothing(module_runner, responder, site):
    result = module_runner("ocsp_stapling", dict(cert_path=str(site[1])), check_mode=True)
    assert result["changed"] is False and result["status"] == "good" and len(responder.requests) == 1


def test_revoked_fails_naming_the_certificate_and_returns_the_status(module_runner, responder, site):
    revoked_at = (NOW - 2 * HOUR).replace(microsecond=0)
    responder.answer = lambda req: responder.respond(req, x509_ocsp.OCSPCertStatus.REVOKED, time=revoked_at,
                                                     reason=x509.ReasonFlags.key_compromise)
    cert, path = site
    result = module_runner("ocsp_stapling", dict(cert_path=str(path)))
    assert result["failed"] is True
    assert result["msg"] == ("cert_path %s (CN=www.example.org, serial %x) is REVOKED since %s (keyCompromise) "
                             "according to its OCSP responder %s: it must not be served or stapled"
                             % (path, cert.serial_number, revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ"), responder.url))
    assert result["status"] == "revoked" and result["revocation_reason"] == "keyCompromise"

    reported = module_runner("ocsp_stapling", dict(cert_path=str(path), fail_on_bad_status=False))
    assert not reported.get("failed") and reported["status"] == "revoked"
    assert reported["revocation_time"] == revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_unknown_fails_by_default(module_runner, responder, site):
    responder.answer = lambda req: responder.respond(req, x509_ocsp.OCSPCertStatus.UNKNOWN)
    result = module_runner("ocsp_stapling", dict(cert_path=str(site[1])))
    assert result["failed"] is True and result["status"] == "unknown"
    assert "CN=www.example.org" in result["msg"] and "status UNKNOWN" in result["msg"]


def test_stale_response_fails(module_runner, responder, site):
    responder.answer = lambda req: responder.respond(req, this_update=NOW - 3 * DAY, next_update=NOW - 2 * DAY)
    result = module_runner("ocsp_stapling", dict(cert_path=str(site[1])))
    assert result["failed"] is True and "stale response: next_update" in result["msg"]
    assert "CN=www.example.org" in result["msg"] and "status" not in result and "response" not in result


def test_bad_signature_fails(module_runner, responder, site):
    impostor = _ca("Module Test CA")  # the issuer's name, another key
    responder.answer = lambda req: responder.respond(req, signer=impostor)
    result = module_runner("ocsp_stapling", dict(cert_path=str(site[1])))
    assert result["failed"] is True and "bad signature" in result["msg"] and "response" not in result
    assert result["responder_url"] == responder.url


@pytest.mark.parametrize("answer, message", [
    ((200, "text/html", b"<html>captive portal</html>"), "is not OCSP data (27 bytes, starting b'<html>"),
    ((500, "text/plain", b"oops"), "answered HTTP 500"),
])
def test_non_ocsp_answers_fail(module_runner, responder, site, answer, message):
    responder.answer = lambda req: answer
    result = module_runner("ocsp_stapling", dict(cert_path=str(site[1])))
    assert result["failed"] is True and message in result["msg"], result
    assert result["msg"].startswith("cert_path %s (CN=www.example.org" % site[1])


def test_unreachable_responder_fails(module_runner, tmp_path):
    cert = leaf("down.example.org", CLOSED_PORT_URL)
    result = module_runner("ocsp_stapling", dict(cert_content=pem(cert), issuer_content=pem(CA), timeout=3))
    assert result["failed"] is True
    assert result["msg"].startswith("cert_content (CN=down.example.org, serial %x): OCSP responder %s is unreachable"
                                    % (cert.serial_number, CLOSED_PORT_URL))


def test_no_ocsp_url_is_not_supported_and_not_a_failure(module_runner, responder, tmp_path):
    cert = leaf("le.example.org", None)
    chain = tmp_path / "chain.pem"
    chain.write_text(pem(CA))
    result = module_runner("ocsp_stapling", dict(cert_content=pem(cert), chain_path=str(chain)))
    assert not result.get("failed") and result["supported"] is False and result["changed"] is False
    assert result["responder_url"] is None and "status" not in result and "response" not in result
    assert "names no OCSP responder" in result["msg"] and responder.requests == []


def test_responder_url_overrides_the_aia(module_runner, responder):
    cert = leaf("www.example.org", CLOSED_PORT_URL)
    result = module_runner("ocsp_stapling", dict(cert_content=pem(cert), issuer_content=pem(CA),
                                                 responder_url=responder.url))
    assert result["status"] == "good" and result["responder_url"] == responder.url and len(responder.requests) == 1


def test_leaf_alone_without_issuer_is_refused_before_any_request(module_runner, responder, site):
    result = module_runner("ocsp_stapling", dict(cert_content=pem(site[0])))
    assert result["failed"] is True and responder.requests == []
    assert result["msg"].startswith("cert_content holds only the leaf: give its issuer with issuer_path")


def test_wrong_issuer_is_refused_before_any_request(module_runner, responder, site):
    result = module_runner("ocsp_stapling", dict(cert_content=pem(site[0]), issuer_content=pem(_ca("Other CA")[1])))
    assert result["failed"] is True and responder.requests == []
    assert "was not issued by CN=Other CA" in result["msg"]


def test_unreadable_inputs_are_named(module_runner, tmp_path):
    result = module_runner("ocsp_stapling", dict(cert_path=str(tmp_path / "missing.pem")))
    assert result["failed"] is True
    assert result["msg"].startswith("cert_path %s cannot be read" % (tmp_path / "missing.pem"))
    result = module_runner("ocsp_stapling", dict(cert_content="not a certificate", issuer_content=pem(CA)))
    assert result["failed"] is True and result["msg"] == "cert_content holds no certificate (PEM or DER expected)"
