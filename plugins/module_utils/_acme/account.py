# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACME accounts: look up by key, read, roll the key over, deactivate (RFC 8555 §7.3).

Creation stays in ``AcmeSession.ensure_account`` (one newAccount POST, EAB built by the library).
Signing is the ``acme`` library's: the key change's inner JWS is ``acme.jws.JWS.sign``, the same
primitive the library uses for External Account Binding; we only choose the key, header and payload.
"""

from __future__ import annotations

import contextlib
import json

try:
    from acme import jws as acme_jws
    from acme import messages
    HAS_ACME = True
except ImportError:  # pragma: no cover - reported by the glue with the missing library's name
    HAS_ACME = False

from .._tls.keys import load_private_key
from ..errors import AcmeProblem, InputError
from .session import account_jwk

ACME_ERROR = "urn:ietf:params:acme:error:"


def _is_problem(error, name):
    return (getattr(error, "problem_type", None) or "") == ACME_ERROR + name


def _says_deactivated(error):
    """Pebble answers a deactivated account's key with 403 unauthorized "...deactivated..."."""
    return _is_problem(error, "unauthorized") and "deactivated" in (getattr(error, "detail", None) or "").lower()


def key_for(pem, what="account key"):
    """(jwk, alg) of a PEM account key; the error names ``what``, never the key."""
    return account_jwk(load_private_key(pem, what=what))


@contextlib.contextmanager
def _signing_with(session, jwk, alg, account_uri=None):
    """Sign the requests inside with another key (and kid, or jwk when ``account_uri`` is None).

    The nonce pool and the request count stay the session's: nonces are not bound to a key (§6.5).
    Not thread-safe: the account module makes its requests one after the other.
    """
    net = session.net
    saved = net.key, net.alg, net.account
    net.key, net.alg = jwk, alg
    net.account = messages.RegistrationResource(uri=account_uri, body=messages.Registration()) if account_uri \
        else None
    try:
        yield
    finally:
        net.key, net.alg, net.account = saved


def _switch_key(session, jwk, alg):
    """From now on the session signs with ``jwk`` (after a successful key change)."""
    session.jwk = jwk
    session.net.key = jwk
    session.net.alg = alg


def find_account(session, key_pem=None):
    """Which account does a key have? RFC 8555 §7.3.1 ``onlyReturnExisting``: never creates one.

    ``key_pem`` None means the session's own key; the session then uses the account found (as kid).
    Returns None when the key has no account, else dict(uri, status); ``uri`` may be None for a
    deactivated account whose CA refuses to name it.
    """
    if key_pem is None:
        jwk, alg = session.jwk, session.net.alg
    else:
        jwk, alg = key_for(key_pem, what="new account key")
    with _signing_with(session, jwk, alg):  # newAccount is signed with jwk, never kid (§6.2)
        try:
            response = session.post(session.directory["newAccount"],
                                    messages.NewRegistration(only_return_existing=True))
        except AcmeProblem as problem:
            if _is_problem(problem, "accountDoesNotExist"):
                return None
            if _says_deactivated(problem):
                return dict(uri=None, status="deactivated")
            raise
    uri = response.headers.get("Location")
    try:
        status = response.json().get("status") or "valid"
    except ValueError:
        status = "valid"
    if key_pem is None and status == "valid":
        session.use_account(uri)
    return dict(uri=uri, status=status)


def _require_account(session):
    """The session's account URL, looked up by its key when not known yet."""
    if session.account_uri:
        return session.account_uri
    found = find_account(session)
    if not found:
        raise InputError("the account key has no ACME account at %s" % session.directory_url)
    if found["status"] != "valid":
        raise InputError("the ACME account of this account key at %s is %s; deactivation is permanent "
                         "(RFC 8555 §7.3.6): use a new account key" % (session.directory_url, found["status"]))
    return found["uri"]


def account_info(session):
    """Status and contacts of the session's account: POST-as-GET of the account URL (RFC 8555 §7.3).

    Returns dict(uri, status, contact, orders). A deactivated account is status "deactivated".
    """
    uri = _require_account(session)
    try:
        try:
            response = session.post(uri, None)
        except AcmeProblem as problem:
            # CAs from before POST-as-GET (draft 15) answer malformed: an empty update reads the account
            # just the same (RFC 8555 §7.3.2).
            if not _is_problem(problem, "malformed"):
                raise
            response = session.post(uri, messages.UpdateRegistration())
    except AcmeProblem as problem:
        if _says_deactivated(problem):
            return dict(uri=uri, status="deactivated", contact=[], orders=None)
        raise
    body = response.json()
    return dict(uri=uri, status=body.get("status"), contact=list(body.get("contact") or []),
                orders=body.get("orders"))


def rollover_account_key(session, new_key_pem):
    """Replace the account's key by ``new_key_pem`` (RFC 8555 §7.3.5). Returns the account URI.

    Outer JWS: the session's current key, kid = account URL, posted to keyChange (with our retries;
    the inner JWS carries no nonce, so a badNonce retry re-signs only the outer one).
    Inner JWS: signed by the NEW key, protected header {alg, jwk: new public key, url: keyChange},
    no nonce, no kid; payload {"account": account URL, "oldKey": current public JWK}.
    The session signs with the new key afterwards. A new key equal to the current one is a no-op.
    """
    new_jwk, new_alg = key_for(new_key_pem, what="new account key")
    url = session.directory_json.get("keyChange")
    if not url:
        raise AcmeProblem("the CA at %s offers no keyChange resource (RFC 8555 §7.3.5): its account keys "
                          "cannot be rolled over" % session.directory_url,
                          problem_type="certfleet:keyChangeUnsupported", url=session.directory_url)
    account_uri = _require_account(session)
    if new_jwk.thumbprint() == session.jwk.thumbprint():
        return account_uri
    payload = json.dumps({"account": account_uri, "oldKey": session.jwk.public_key().to_partial_json()},
                         sort_keys=True).encode()
    inner = acme_jws.JWS.sign(payload, key=new_jwk, alg=new_alg, nonce=None, url=url)
    try:
        session.post(url, inner)
    except AcmeProblem as problem:
        if problem.status != 409:
            problem.msg = "the CA refused the account key change of %s: %s" % (account_uri, problem.msg)
            problem.args = (problem.msg,)
            raise
        # RFC 8555 §7.3.5: 409 when another account already has the new key. Name it if the CA says.
        other = None
        try:
            other = (find_account(session, new_key_pem) or {}).get("uri")
        except AcmeProblem:
            pass
        problem.msg = ("the CA refused the account key change of %s: the new account key is already the key "
                       "of %s (HTTP 409, RFC 8555 §7.3.5); a key can belong to one account only. The current "
                       "key stays in use. CA said: %s"
                       % (account_uri, "account %s" % other if other else "another account",
                          problem.detail or "(no detail)"))
        problem.args = (problem.msg,)
        raise
    _switch_key(session, new_jwk, new_alg)
    return account_uri


def use_key(session, key_pem, account_uri):
    """Sign as ``account_uri`` with ``key_pem`` from now on (after finding the rollover already done)."""
    jwk, alg = key_for(key_pem, what="new account key")
    _switch_key(session, jwk, alg)
    session.use_account(account_uri)


def deactivate_account(session):
    """Deactivate the session's account (RFC 8555 §7.3.6). True if deactivated now, False if it was.

    Deactivation is permanent: the CA refuses every later request signed by this account's key.
    """
    uri = _require_account(session)
    try:
        response = session.post(uri, messages.UpdateRegistration(status="deactivated"))
    except AcmeProblem as problem:
        if _says_deactivated(problem):
            return False
        raise
    try:
        status = response.json().get("status")
    except ValueError:
        status = None
    if status not in (None, "deactivated"):
        raise AcmeProblem("the CA answered the deactivation of %s with account status %r" % (uri, status),
                          problem_type="certfleet:deactivationIgnored", url=uri)
    return True
