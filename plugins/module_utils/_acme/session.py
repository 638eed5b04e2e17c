# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One ACME session per module call: one directory fetch, one account lookup, one nonce pool."""

from __future__ import annotations

import copy

try:
    import josepy as jose
    from acme import client as acme_client
    from acme import errors as acme_errors
    from acme import messages
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    HAS_ACME = True
except ImportError:  # pragma: no cover
    HAS_ACME = False

from .._tls.keys import load_private_key
from .directory import resolve_directory
from ..errors import AcmeProblem, InputError
from .network import ResilientNetwork, RetryPolicy


def account_jwk(private_key):
    """JWK and JWS algorithm for an account key (RFC 7518 §3.1)."""
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        alg = {"secp256r1": jose.ES256, "secp384r1": jose.ES384, "secp521r1": jose.ES512}.get(private_key.curve.name)
        if alg is None:
            raise InputError("account key curve %s is not usable for ACME; use P-256 or P-384" % private_key.curve.name)
        return jose.JWKEC(key=private_key), alg
    if isinstance(private_key, rsa.RSAPrivateKey):
        return jose.JWKRSA(key=private_key), jose.RS256
    raise InputError("account key must be an EC (P-256/P-384) or RSA key")


class AcmeSession:
    """Directory + account + network for one module call.

    ``account_key_pem`` comes from a file, a vault or an AWX credential; it is never logged or returned.
    """

    def __init__(self, directory, account_key_pem, ca_bundle=None, policy=None, validate_certs=True, carried=None):
        self.directory_url = resolve_directory(directory)
        key = load_private_key(account_key_pem, what="account key")
        self.jwk, alg = account_jwk(key)
        verify = ca_bundle if ca_bundle else validate_certs
        self.net = ResilientNetwork(self.jwk, alg, verify_ssl=verify, policy=policy or RetryPolicy())
        carried = carried or {}
        if carried.get("directory_url") == self.directory_url and carried.get("directory"):
            # The first step of an order handed over its directory and spare nonces: the second step
            # starts without a directory fetch or a newNonce request. A stale nonce only costs a badNonce
            # answer, which brings a fresh one (RFC 8555 §6.5).
            self.directory_json = carried["directory"]
            self.net.add_nonces(jose.b64.b64decode(n) for n in carried.get("nonces") or [])
        else:
            self.directory_json = self.net.get(self.directory_url).json()
        # from_json rewrites the dict it is given (meta becomes an object): give it a copy.
        self.directory = messages.Directory.from_json(copy.deepcopy(self.directory_json))
        self.client = acme_client.ClientV2(self.directory, net=self.net)
        self.account_uri = None

    def carry(self):
        """What a later call of the same run may reuse: the directory and the unused nonces (not secret)."""
        nonces = [jose.b64.b64encode(n).decode("ascii") for n in self.net.take_all_nonces()]  # stored decoded
        return {"directory_url": self.directory_url, "directory": self.directory_json, "nonces": nonces}

    def post(self, url, obj=None):
        """Signed POST of ``obj`` to ``url`` (POST-as-GET when None, RFC 8555 §6.3), with our retries.

        Signed with the account URL as kid once an account is in use, else with the key itself (§6.2).
        """
        return self.net.post(url, obj, new_nonce_url=self.directory_json.get("newNonce"))

    @property
    def request_count(self):
        return self.net.request_count

    def meta(self, name, default=None):
        return (self.directory_json.get("meta") or {}).get(name, default)

    def has(self, resource):
        return resource in self.directory_json

    def use_account(self, account_uri):
        """Use a known account URL as JWS kid: no request at all (the second step of an order)."""
        self.account_uri = account_uri
        self.net.account = messages.RegistrationResource(uri=account_uri, body=messages.Registration())
        return account_uri

    def ensure_account(self, contact=None, terms_agreed=False, eab_kid=None, eab_hmac_key=None,
                       eab_alg="HS256", allow_create=True):
        """Find the account of this key, or create it (RFC 8555 §7.3).

        Looks up first (onlyReturnExisting, RFC 8555 §7.3.1), so an existing account costs one request and
        never gets terms or External Account Binding sent again (single-use EAB keys, CAs that refuse a
        repeated EAB). Creates only on accountDoesNotExist. Returns (account_uri, created: bool).
        """
        self.net.account = None  # newAccount is signed with jwk, never kid (RFC 8555 §6.2)
        try:
            response = self.post(self.directory["newAccount"], messages.NewRegistration(only_return_existing=True))
            body = response.json() if response.content else {}
            if body.get("status") in ("deactivated", "revoked"):
                raise InputError("the ACME account of this key is %s at %s; use another account key"
                                 % (body["status"], self.directory_url))
            return self.use_account(response.headers["Location"]), False
        except AcmeProblem as problem:
            if not (problem.problem_type or "").endswith(":accountDoesNotExist"):
                raise
        if not allow_create:
            raise InputError("no ACME account exists for this account key at %s and account creation is disabled"
                             % self.directory_url)
        tos = self.meta("termsOfService")
        if tos and not terms_agreed:
            raise InputError("the CA's terms of service (%s) must be agreed to create an account: "
                             "set acme_terms_agreed=true after reading them" % tos)
        if self.meta("externalAccountRequired", False) and not (eab_kid and eab_hmac_key):
            raise InputError("this CA requires External Account Binding: set acme_eab_kid and acme_eab_hmac_key")
        eab = None
        if eab_kid and eab_hmac_key:
            eab = messages.ExternalAccountBinding.from_data(
                account_public_key=self.jwk.public_key(), kid=eab_kid, hmac_key=eab_hmac_key,
                directory=self.directory, hmac_alg=eab_alg)
        registration = messages.NewRegistration.from_data(
            email=",".join(contact) if isinstance(contact, (list, tuple)) else contact,
            terms_of_service_agreed=True if terms_agreed else None,
            external_account_binding=eab)
        try:
            regr = self.client.new_account(registration)
            self.account_uri = regr.uri
            return regr.uri, True
        except acme_errors.ConflictError as existing:
            # 200 + Location: created meanwhile by a concurrent job slice; reuse it, never create another.
            return self.use_account(existing.location), False
