"""A small, local RFC 8555 endpoint for what Pebble 2.4.0 cannot produce.

It serves ARI (RFC 9773 renewalInfo), ACME profiles (as Let's Encrypt documents them: directory
meta.profiles, ``profile`` in newOrder, ``invalidProfile`` errors), ``replaces`` with ``alreadyReplaced``
refusals, and injected faults (badNonce, 5xx with or without JSON, 429 with Retry-After, missing nonces).
It does not verify JWS signatures (the client's signing is the acme library's, not ours); it does check
that each nonce it issued is used once.
"""

import base64
import datetime
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UTC = datetime.timezone.utc


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class FakeAcme:
    def __init__(self, profiles=None, ari=False, reject_replaces=False, hostile_token=None):
        self.profiles = profiles
        self.ari = ari
        self.reject_replaces = reject_replaces
        self.hostile_token = hostile_token
        self.faults = {}          # "POST /order" -> [fault, ...]; a fault is a dict, see _apply_fault
        self.requests = []        # (method, route)
        self.order_payloads = []  # payloads of newOrder
        self.renewal_windows = {}  # cert id -> (start, end)
        self.retry_after_ari = 21600
        self.nonces = set()
        self.orders, self.authzs = {}, {}
        self.account = None
        self.lock = threading.Lock()
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake ACME Root")])
        now = datetime.datetime.now(UTC)
        self.ca_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                        .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
                        .not_valid_before(now - datetime.timedelta(days=1))
                        .not_valid_after(now + datetime.timedelta(days=3650))
                        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                        .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.ca_key.public_key()),
                                       critical=False)
                        .sign(self.ca_key, hashes.SHA256()))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    @property
    def directory_url(self):
        return self.url + "/dir"

    def fault(self, route, *faults):
        self.faults.setdefault(route, []).extend(faults)

    def count(self, route=None):
        return sum(1 for r in self.requests if route is None or r == route)

    # -- issuing ---------------------------------------------------------------------------
    def issue(self, csr_der, lifetime_days=90):
        csr = x509.load_der_x509_csr(csr_der)
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
        now = datetime.datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.ca_cert.subject).public_key(csr.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now)
                .not_valid_after(now + datetime.timedelta(days=lifetime_days))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                               critical=False)
                .sign(self.ca_key, hashes.SHA256()))
        pem = cert.public_bytes(serialization.Encoding.PEM) + self.ca_cert.public_bytes(serialization.Encoding.PEM)
        return cert, pem.decode()

    # -- HTTP ------------------------------------------------------------------------------
    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _nonce(self):
                nonce = b64e(secrets.token_bytes(16))
                with fake.lock:
                    fake.nonces.add(nonce)
                return nonce

            def reply(self, status, body=None, headers=None, nonce=True, ctype="application/json"):
                data = b"" if body is None else (body if isinstance(body, bytes) else
                                                 (body.encode() if isinstance(body, str) else
                                                  json.dumps(body).encode()))
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                if nonce:
                    self.send_header("Replay-Nonce", self._nonce())
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def problem(self, status, typ, detail, headers=None, **extra):
                body = dict(type="urn:ietf:params:acme:error:" + typ, detail=detail, status=status, **extra)
                self.reply(status, body, headers, ctype="application/problem+json")

            def route(self):
                parts = self.path.split("/")
                return "%s /%s" % (self.command, parts[1] if len(parts) > 1 else "")

            def _apply_fault(self):
                queue = fake.faults.get(self.route())
                if not queue:
                    return False
                fault = queue.pop(0)
                if fault.get("drop_nonce"):
                    self._drop_nonce = True
                    return False
                if fault.get("html"):
                    self.reply(fault["status"], "<html>bad gateway</html>", nonce=False, ctype="text/html")
                    return True
                headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else None
                self.problem(fault["status"], fault["type"], fault.get("detail", "injected"), headers)
                return True

            def do_HEAD(self):
                fake.requests.append(self.route())
                if not self._apply_fault():
                    self.reply(200)

            def do_GET(self):
                fake.requests.append(self.route())
                if self._apply_fault():
                    return
                if self.path == "/dir":
                    directory = {"newNonce": fake.url + "/nonce", "newAccount": fake.url + "/acct",
                                 "newOrder": fake.url + "/order", "revokeCert": fake.url + "/revoke",
                                 "keyChange": fake.url + "/keychange",
                                 "meta": {"termsOfService": fake.url + "/tos"}}
                    if fake.profiles:
                        directory["meta"]["profiles"] = fake.profiles
                    if fake.ari:
                        directory["renewalInfo"] = fake.url + "/renewalInfo"
                    return self.reply(200, directory, nonce=False)
                if self.path.startswith("/renewalInfo/") and fake.ari:
                    cert_id = self.path.split("/", 2)[2]
                    if cert_id not in fake.renewal_windows:
                        return self.problem(404, "malformed", "unknown certificate %s" % cert_id)
                    start, end = fake.renewal_windows[cert_id]
                    return self.reply(200, {"suggestedWindow": {"start": start, "end": end}},
                                      {"Retry-After": str(fake.retry_after_ari)}, nonce=False)
                self.reply(404, nonce=False)

            def do_POST(self):
                fake.requests.append(self.route())
                self._drop_nonce = False
                length = int(self.headers.get("Content-Length", 0))
                jws = json.loads(self.rfile.read(length) or b"{}")
                if self._apply_fault():
                    return
                protected = json.loads(b64d(jws.get("protected", "")) or b"{}")
                with fake.lock:
                    known = protected.get("nonce") in fake.nonces
                    fake.nonces.discard(protected.get("nonce"))
                if not known:
                    return self.problem(400, "badNonce", "JWS has an invalid anti-replay nonce")
                payload = json.loads(b64d(jws["payload"])) if jws.get("payload") else None
                handler = getattr(self, "post_" + self.path.split("/")[1], None)
                if handler is None:
                    return self.problem(404, "malformed", "no such resource")
                handler(payload)

            def reply_post(self, status, body, headers=None, ctype="application/json"):
                self.reply(status, body, headers, nonce=not self._drop_nonce, ctype=ctype)

            def post_acct(self, payload):
                if fake.account is None:
                    if payload and payload.get("onlyReturnExisting"):
                        return self.problem(400, "accountDoesNotExist", "no account for this key")
                    if not (payload or {}).get("termsOfServiceAgreed"):
                        return self.problem(403, "agreementRequired", "agree to the terms")
                    fake.account = fake.url + "/acct/1"
                    return self.reply_post(201, {"status": "valid"}, {"Location": fake.account})
                self.reply_post(200, {"status": "valid"}, {"Location": fake.account})

            def post_order(self, payload):
                if self.path.startswith("/order/"):
                    return self.reply_post(200, self.order_json(self.path.split("/")[2]))
                fake.order_payloads.append(payload)
                profile = payload.get("profile")
                if profile and profile not in (fake.profiles or {}):
                    return self.problem(400, "invalidProfile", "profile %r is not offered" % profile)
                if payload.get("replaces") and fake.reject_replaces:
                    return self.problem(409, "alreadyReplaced", "certificate already replaced")
                order_id = str(len(fake.orders) + 1)
                authz_ids = []
                for index, ident in enumerate(payload["identifiers"]):
                    authz_id = "%s-%d" % (order_id, index)
                    token = fake.hostile_token or b64e(secrets.token_bytes(32))
                    fake.authzs[authz_id] = {"identifier": ident, "status": "pending", "token": token}
                    authz_ids.append(authz_id)
                fake.orders[order_id] = {"identifiers": payload["identifiers"], "authz": authz_ids,
                                         "profile": profile, "cert": None}
                self.reply_post(201, self.order_json(order_id), {"Location": fake.url + "/order/" + order_id})

            def order_json(self, order_id):
                order = fake.orders[order_id]
                statuses = [fake.authzs[a]["status"] for a in order["authz"]]
                status = "valid" if order["cert"] else ("ready" if all(s == "valid" for s in statuses)
                                                        else "pending")
                body = {"status": status, "identifiers": order["identifiers"],
                        "authorizations": [fake.url + "/authz/" + a for a in order["authz"]],
                        "finalize": fake.url + "/finalize/" + order_id}
                if order["profile"]:
                    body["profile"] = order["profile"]
                if order["cert"]:
                    body["certificate"] = fake.url + "/cert/" + order_id
                return body

            def authz_json(self, authz_id):
                authz = fake.authzs[authz_id]
                return {"identifier": authz["identifier"], "status": authz["status"],
                        "challenges": [{"type": "http-01", "url": fake.url + "/chall/" + authz_id,
                                        "token": authz["token"], "status": authz["status"]}]}

            def post_authz(self, payload):
                self.reply_post(200, self.authz_json(self.path.split("/")[2]))

            def post_chall(self, payload):
                authz_id = self.path.split("/")[2]
                if payload is not None:
                    fake.authzs[authz_id]["status"] = "valid"
                body = self.authz_json(authz_id)["challenges"][0]
                self.reply_post(200, body, {"Link": '<%s/authz/%s>;rel="up"' % (fake.url, authz_id)})

            def post_finalize(self, payload):
                order_id = self.path.split("/")[2]
                cert, pem = fake.issue(b64d(payload["csr"]))
                fake.orders[order_id]["cert"] = pem
                self.reply_post(200, self.order_json(order_id))

            def post_cert(self, payload):
                self.reply_post(200, fake.orders[self.path.split("/")[2]]["cert"],
                                ctype="application/pem-certificate-chain")

            def post_revoke(self, payload):
                fake.revoked = payload
                self.reply_post(200, None)

        return Handler
