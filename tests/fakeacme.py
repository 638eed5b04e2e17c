"""A small, local RFC 8555 endpoint for what Pebble 2.4.0 cannot produce.

It serves ARI (RFC 9773 renewalInfo), ACME profiles (as Let's Encrypt documents them: directory
meta.profiles, ``profile`` in newOrder, ``invalidProfile`` errors), ``replaces`` with ``alreadyReplaced``
refusals, and injected faults (badNonce, 5xx with or without JSON, 429 with Retry-After, missing nonces).
It does not verify outer JWS signatures (the client's signing is the acme library's, not ours); it does check
that each nonce it issued is used once.

Accounts (RFC 8555 §7.3) are keyed by the RFC 7638 thumbprint of the ``jwk`` that signs newAccount; every
other POST (but revokeCert) must carry a ``kid`` naming a valid account. It also serves External Account
Binding (``eab_required``; the EAB's HMAC *is* verified, with ``eab_kid``/``eab_hmac_key``), key change
(§7.3.5: the inner JWS, which our code builds, is verified with its new key) and deactivation (§7.3.6).
"""

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from acme import jws as acme_jws

UTC = datetime.timezone.utc


def b64d(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_thumbprint(jwk):
    """RFC 7638 §3: SHA-256 of the required members, sorted, without whitespace."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n"), "oct": ("k", "kty")}[jwk["kty"]]
    canonical = json.dumps({name: jwk[name] for name in required}, sort_keys=True, separators=(",", ":"))
    return b64e(hashlib.sha256(canonical.encode()).digest())


EAB_MACS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


class FakeAcme:
    def __init__(self, profiles=None, ari=False, reject_replaces=False, hostile_token=None,
                 eab_required=False, eab_kid=None, eab_hmac_key=None, tls=False, issuing_ca=None):
        self.profiles = profiles
        # issuing_ca: issue with another CA (dict: cert_pem, key_pem, optional ocsp_url put in each leaf's AIA,
        # optional on_issue(leaf_pem) called per certificate), e.g. the rig OCSP CA: rig.ocsp_fakeacme_issuer().
        self.issuing_ca = issuing_ca
        # External Account Binding (RFC 8555 §7.3.4): the credentials the CA would hand out.
        self.eab_required = eab_required
        self.eab_kid = eab_kid or "kid-" + b64e(secrets.token_bytes(6))
        self.eab_hmac_key = eab_hmac_key or b64e(secrets.token_bytes(32))
        self.eab_verified = []    # EAB kids whose HMAC the fake verified, one per account created
        self.accounts = {}        # account URL -> {"thumbprint", "jwk", "status", "contact"}
        self.key_changes = []     # (account URL, old thumbprint, new thumbprint)
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
        self.answered = []        # authorization ids whose challenge the client answered
        self.deactivated = []     # authorization ids the client deactivated (RFC 8555 §7.5.2)
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
        # tls=True: HTTPS with a certificate for 127.0.0.1 from the fake's own root, which nobody trusts
        # unless given ``tls_ca_bundle`` (the PEM file of that root) - like Pebble or a private CA.
        self.tls_ca_bundle = None
        if tls:
            self.tls_ca_bundle = self._serve_tls()
        self.url = "%s://127.0.0.1:%d" % ("https" if tls else "http", self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        if self.tls_ca_bundle:
            os.unlink(self.tls_ca_bundle)

    def _serve_tls(self):
        """Wrap the listening socket in TLS; return the path of the root's PEM (the acme_ca_bundle to use)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake acme server")]))
                .issuer_name(self.ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()),
                               critical=False)
                .sign(self.ca_key, hashes.SHA256()))
        workdir = tempfile.mkdtemp(prefix="fakeacme-tls-")
        chain_path, key_path = os.path.join(workdir, "server.pem"), os.path.join(workdir, "server.key")
        with open(chain_path, "wb") as handle:
            handle.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(chain_path, key_path)
        os.unlink(chain_path)
        os.unlink(key_path)
        os.rmdir(workdir)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        handle, bundle = tempfile.mkstemp(prefix="fakeacme-root-", suffix=".pem")
        with os.fdopen(handle, "wb") as out:
            out.write(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        return bundle

    @property
    def directory_url(self):
        return self.url + "/dir"

    def fault(self, route, *faults):
        self.faults.setdefault(route, []).extend(faults)

    def count(self, route=None):
        return sum(1 for r in self.requests if route is None or r == route)

    def account_of_key(self, jwk):
        """URL of the account whose current key is ``jwk`` (a public JWK dict), or None."""
        thumbprint = jwk_thumbprint(jwk)
        return next((uri for uri, acct in self.accounts.items() if acct["thumbprint"] == thumbprint), None)

    def check_eab(self, eab, account_jwk):
        """Problem (status, type, detail) if the External Account Binding is wrong, else None (§7.3.4)."""
        try:
            protected = json.loads(b64d(eab["protected"]))
            mac = b64d(eab["signature"])
            bound_key = json.loads(b64d(eab["payload"]))
        except (KeyError, TypeError, ValueError):
            return 400, "malformed", "externalAccountBinding is not a flattened JWS"
        if protected.get("alg") not in EAB_MACS:
            return 400, "badSignatureAlgorithm", "EAB alg %r is not a MAC algorithm" % protected.get("alg")
        if "nonce" in protected or "jwk" in protected:
            return 400, "malformed", "EAB protected header must carry no nonce and no jwk"
        if protected.get("url") != self.url + "/acct":
            return 400, "malformed", "EAB url %r is not the newAccount URL" % protected.get("url")
        if protected.get("kid") != self.eab_kid:
            return 403, "unauthorized", "unknown EAB key identifier %r" % protected.get("kid")
        signing_input = ("%s.%s" % (eab["protected"], eab["payload"])).encode()
        expected = hmac.new(b64d(self.eab_hmac_key), signing_input, EAB_MACS[protected["alg"]]).digest()
        if not hmac.compare_digest(expected, mac):
            return 403, "unauthorized", "EAB HMAC does not verify with the key of %s" % self.eab_kid
        if jwk_thumbprint(bound_key) != jwk_thumbprint(account_jwk):
            return 400, "malformed", "EAB payload is not the key that signs newAccount"
        self.eab_verified.append(protected["kid"])
        return None

    # -- issuing ---------------------------------------------------------------------------
    def issue(self, csr_der, lifetime_days=90):
        csr = x509.load_der_x509_csr(csr_der)
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
        now = datetime.datetime.now(UTC)
        ca_key, ca_cert = self.ca_key, self.ca_cert
        if self.issuing_ca:
            ca_cert = x509.load_pem_x509_certificate(self.issuing_ca["cert_pem"].encode())
            ca_key = serialization.load_pem_private_key(self.issuing_ca["key_pem"].encode(), password=None)
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                   .issuer_name(ca_cert.subject).public_key(csr.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=lifetime_days))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                  critical=False))
        if self.issuing_ca and self.issuing_ca.get("ocsp_url"):
            ocsp_url = x509.UniformResourceIdentifier(self.issuing_ca["ocsp_url"])
            builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.OCSP, ocsp_url)]), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        pem = cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM)
        if self.issuing_ca and self.issuing_ca.get("on_issue"):
            self.issuing_ca["on_issue"](cert.public_bytes(serialization.Encoding.PEM).decode())
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
                headers = {"Retry-After": str(fault["retry_after"])} if "retry_after" in fault else None
                if fault.get("html"):
                    self.reply(fault["status"], "<html>bad gateway</html>", headers, nonce=False, ctype="text/html")
                    return True
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
                    if fake.eab_required:
                        directory["meta"]["externalAccountRequired"] = True
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
                self.protected = protected
                if self.path not in ("/acct", "/revoke") and not self._kid_is_valid():
                    return None
                handler(payload)

            def _kid_is_valid(self):
                """RFC 8555 §6.2: all requests but newAccount (and revokeCert by cert key) carry a kid."""
                kid = self.protected.get("kid")
                if not kid or "jwk" in self.protected:
                    self.problem(400, "malformed", "this request must be signed with kid, not jwk")
                    return False
                if kid not in fake.accounts:
                    self.problem(400, "accountDoesNotExist", "no account %s" % kid)
                    return False
                if fake.accounts[kid]["status"] != "valid":
                    self.problem(403, "unauthorized", "account %s is deactivated" % kid)
                    return False
                return True

            def account_json(self, uri):
                acct = fake.accounts[uri]
                return {"status": acct["status"], "contact": acct["contact"], "key": acct["jwk"],
                        "orders": uri + "/orders"}

            def reply_post(self, status, body, headers=None, ctype="application/json"):
                self.reply(status, body, headers, nonce=not self._drop_nonce, ctype=ctype)

            def post_acct(self, payload):
                if self.path != "/acct":
                    return self.post_account_url(self.path, payload)
                jwk = self.protected.get("jwk")
                if not jwk or "kid" in self.protected:
                    return self.problem(400, "malformed", "newAccount must be signed with jwk, not kid")
                existing = fake.account_of_key(jwk)
                if existing:
                    if fake.accounts[existing]["status"] != "valid":
                        return self.problem(403, "unauthorized", "account %s is deactivated" % existing)
                    return self.reply_post(200, self.account_json(existing), {"Location": existing})
                payload = payload or {}
                if payload.get("onlyReturnExisting"):
                    return self.problem(400, "accountDoesNotExist", "no account for this key")
                if not payload.get("termsOfServiceAgreed"):
                    return self.problem(403, "agreementRequired", "agree to the terms")
                eab = payload.get("externalAccountBinding")
                if eab is None and fake.eab_required:
                    return self.problem(403, "externalAccountRequired", "this CA requires External Account Binding")
                if eab is not None:
                    refused = fake.check_eab(eab, jwk)
                    if refused:
                        return self.problem(*refused)
                uri = fake.url + "/acct/%d" % (len(fake.accounts) + 1)
                fake.accounts[uri] = {"thumbprint": jwk_thumbprint(jwk), "jwk": jwk, "status": "valid",
                                      "contact": list(payload.get("contact") or [])}
                if fake.account is None:
                    fake.account = uri
                self.reply_post(201, self.account_json(uri), {"Location": uri})

            def post_account_url(self, uri, payload):
                """POST-as-GET reads the account; an update may set contact or deactivate (§7.3.2, §7.3.6)."""
                uri = fake.url + uri
                if self.protected.get("kid") != uri:
                    return self.problem(403, "unauthorized", "request for %s signed as %s"
                                        % (uri, self.protected.get("kid")))
                if payload and "contact" in payload:
                    fake.accounts[uri]["contact"] = list(payload["contact"] or [])
                if payload and payload.get("status") == "deactivated":
                    fake.accounts[uri]["status"] = "deactivated"
                elif payload and payload.get("status") not in (None, "valid"):
                    return self.problem(400, "malformed", "status %r cannot be set" % payload["status"])
                self.reply_post(200, self.account_json(uri), {"Location": uri})

            def post_keychange(self, payload):
                """RFC 8555 §7.3.5: the inner JWS is signed by the new key and names the account and old key."""
                account_uri = self.protected["kid"]
                try:
                    inner = acme_jws.JWS.from_json(payload)
                    inner_protected = json.loads(b64d(payload["protected"]))
                    inner_payload = json.loads(inner.payload)
                except Exception as error:  # noqa: BLE001 - any parse error is the client's
                    return self.problem(400, "malformed", "keyChange payload is not a JWS: %s" % error)
                new_jwk = inner_protected.get("jwk")
                if not new_jwk or "kid" in inner_protected:
                    return self.problem(400, "malformed", "inner JWS must carry jwk (the new key), not kid")
                if "nonce" in inner_protected:
                    return self.problem(400, "malformed", "inner JWS must omit nonce")
                if inner_protected.get("url") != self.protected.get("url") or \
                        inner_protected.get("url") != fake.url + "/keychange":
                    return self.problem(400, "malformed", "inner JWS url %r is not the keyChange URL"
                                        % inner_protected.get("url"))
                if not inner.verify():
                    return self.problem(400, "malformed", "inner JWS signature does not verify with its jwk")
                if inner_payload.get("account") != account_uri:
                    return self.problem(403, "unauthorized", "inner payload account %r is not the signer %s"
                                        % (inner_payload.get("account"), account_uri))
                old_thumbprint = fake.accounts[account_uri]["thumbprint"]
                try:
                    old_key_matches = jwk_thumbprint(inner_payload["oldKey"]) == old_thumbprint
                except (KeyError, TypeError):
                    return self.problem(400, "malformed", "inner payload has no usable oldKey JWK")
                if not old_key_matches:
                    return self.problem(403, "unauthorized", "oldKey is not the current key of %s" % account_uri)
                holder = fake.account_of_key(new_jwk)
                if holder:
                    return self.problem(409, "conflict", "new key is already in use for account %s" % holder,
                                        {"Location": holder})
                fake.accounts[account_uri].update(thumbprint=jwk_thumbprint(new_jwk), jwk=new_jwk)
                fake.key_changes.append((account_uri, old_thumbprint, jwk_thumbprint(new_jwk)))
                self.reply_post(200, self.account_json(account_uri), {"Location": account_uri})

            def post_order(self, payload):
                if self.path.startswith("/order/"):
                    if self.path.split("/")[2] not in fake.orders:
                        return self.problem(404, "malformed", "no such order")
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
                if not order["cert"] and any(s in ("invalid", "deactivated") for s in statuses):
                    status = "invalid"  # RFC 8555 §7.1.6
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
                authz_id = self.path.split("/")[2]
                if payload and payload.get("status") == "deactivated":  # RFC 8555 §7.5.2
                    if fake.authzs[authz_id]["status"] not in ("pending", "valid"):
                        return self.problem(400, "malformed", "authorization %s is %s"
                                            % (authz_id, fake.authzs[authz_id]["status"]))
                    fake.authzs[authz_id]["status"] = "deactivated"
                    fake.deactivated.append(authz_id)
                self.reply_post(200, self.authz_json(authz_id))

            def post_chall(self, payload):
                authz_id = self.path.split("/")[2]
                if payload is not None:
                    if fake.authzs[authz_id]["status"] != "pending":
                        return self.problem(400, "malformed", "authorization %s is %s, not pending"
                                            % (authz_id, fake.authzs[authz_id]["status"]))
                    fake.answered.append(authz_id)
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
