# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The OCSP staple a host serves, as a client sees it in the TLS handshake (RFC 6066 §8, status_request).

Plain Python over ``pyOpenSSL`` and ``cryptography``, no Ansible import. Python's ``ssl`` can neither ask for
a staple nor read one, so ``fetch_staple`` makes its own handshake with pyOpenSSL (``request_ocsp`` and the
client OCSP callback) and returns the stapled DER with the served chain. ``staple_facts`` judges the staple
with ``ocsp.verify_response``, the one verifier the ``ocsp_stapling`` module uses too: signer (the issuer or a
delegated responder it signed for OCSP), signature, certID of the served certificate, this/next update.

The issuer is the certificate of the **served chain** that signed the served leaf (a CA bundle's, when the
chain does not carry it, as for a leaf signed by a root). The staple is thus exactly as trustworthy as the
chain: tls_verify checks that chain in its own handshake, and says so in ``chain_verified``.

``outcome`` is the decision as data (report and roles read it, never the error text):

- ``verified``: a staple was served and verifies; ``status`` is its certificate status (good, revoked, unknown);
- ``not_stapled``: the client asked, the server sent none;
- ``stale``: signed and about this certificate, but this_update is in the future or next_update past;
- ``invalid``: not OCSP data, an OCSP error status, a wrong signer or signature, or another certificate's certID;
- ``no_responder``: the served certificate names no OCSP responder, so nothing can be stapled: not asked;
- ``not_checked``: it could not be asked or judged (no certificate served, the handshake failed, no issuer to
  verify with, pyOpenSSL missing); ``error`` says why.
"""

from __future__ import annotations

import select
import socket
import time
from concurrent.futures import ThreadPoolExecutor

try:
    from cryptography.x509 import ocsp as x509_ocsp
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

try:
    from OpenSSL import SSL
    HAS_PYOPENSSL = True
    CONNECTION_ERRORS = (OSError, SSL.Error)
except ImportError:  # pragma: no cover - pyOpenSSL comes with acme, and meta/ee-requirements.txt lists it
    HAS_PYOPENSSL = False
    CONNECTION_ERRORS = (OSError,)

from ..errors import InputError
from . import ocsp
from .probe import verify_target

OUTCOMES = ("verified", "not_stapled", "stale", "invalid", "no_responder", "not_checked")
MISSING_PYOPENSSL = ("cannot ask for the staple: the Python library pyOpenSSL is not installed on the control node "
                     "(Python's ssl cannot read stapled OCSP responses); pip install pyOpenSSL "
                     "(meta/ee-requirements.txt)")


def _time(value):
    """As ocsp.verify_response writes times (UTC, ISO 8601 with Z)."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _sni(server_name):
    try:
        return server_name.encode("ascii")
    except UnicodeEncodeError:
        return server_name.encode("idna")


def _blank(outcome, present=None, error=None, serial=None):
    return {"outcome": outcome, "present": present, "status": None, "this_update": None, "next_update": None,
            "revocation_time": None, "revocation_reason": None, "serial": serial, "error": error}


def _wait(sock, want_write, deadline, what):
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise socket.timeout("timed out during the TLS handshake with %s" % what)
    readable, writable, _errors = select.select([] if want_write else [sock], [sock] if want_write else [], [],
                                                remaining)
    if not (readable or writable):
        raise socket.timeout("timed out during the TLS handshake with %s" % what)


def fetch_staple(address, port, server_name, timeout=5.0):
    """(stapled DER, served chain) from one handshake with SNI ``server_name`` that asks for a staple.

    The DER is b"" when the server staples nothing. The chain is cryptography certificates, leaf first, as
    served: it is not verified here (the caller's own handshake verifies it). OSError or OpenSSL.SSL.Error on
    a failed connection or handshake.
    """
    if not HAS_PYOPENSSL:
        raise InputError(MISSING_PYOPENSSL)
    what = "%s:%s (SNI %s)" % (address, port, server_name)
    stapled = []

    def on_staple(_connection, staple_der, _data):
        stapled.append(bytes(staple_der))
        return True  # judged after the handshake by ocsp.verify_response, never by OpenSSL's callback

    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_verify(SSL.VERIFY_NONE)  # only the staple and the chain are read: the other handshake verifies
    context.set_ocsp_client_callback(on_staple)
    deadline = time.monotonic() + timeout
    with socket.create_connection((address, port), timeout=timeout) as sock:
        sock.setblocking(False)  # pyOpenSSL needs a non-blocking socket to honour the deadline
        connection = SSL.Connection(context, sock)
        connection.set_tlsext_host_name(_sni(server_name))
        connection.request_ocsp()  # the status_request extension (RFC 6066 §8)
        connection.set_connect_state()
        while True:
            try:
                connection.do_handshake()
                break
            except SSL.WantReadError:
                _wait(sock, False, deadline, what)
            except SSL.WantWriteError:
                _wait(sock, True, deadline, what)
        chain = connection.get_peer_cert_chain(as_cryptography=True) or []
        try:
            connection.shutdown()
        except SSL.Error:
            pass  # the close_notify is a courtesy; the staple and chain are already read
    return (stapled[0] if stapled else b""), list(chain)


def served_issuer(leaf, chain, extra_issuers=()):
    """The certificate that signed ``leaf``: from the served chain first, then ``extra_issuers`` (a CA bundle,
    for a leaf signed by a root the server does not send). None when neither holds it."""
    for candidate in list(chain) + list(extra_issuers):
        if candidate is leaf:
            continue
        try:
            ocsp.check_issuer(leaf, candidate)
        except InputError:
            continue
        return candidate
    return None


def staple_facts(staple_der, chain, extra_issuers=(), now=None, what="the served certificate"):
    """Judge one served staple against the served chain's issuer; a dict (see the module docstring for outcome).

    Fields: outcome, present, status, this_update, next_update, revocation_time, revocation_reason, serial
    (of the certificate the staple was checked against), error. this_update and next_update of a stale
    staple are given too (its signature and certID verified): they say since when it is stale.
    """
    if not chain:
        return _blank("not_checked", error="%s: the handshake served no certificate" % what)
    leaf = chain[0]
    serial = "%x" % leaf.serial_number
    name = "the staple served for %s (%s)" % (what, ocsp.describe(leaf))
    if not staple_der:
        return _blank("not_stapled", present=False, serial=serial)
    issuer = served_issuer(leaf, chain[1:], extra_issuers)
    if issuer is None:
        return _blank("not_checked", present=True, serial=serial,
                      error="%s cannot be verified: neither the served chain nor the CA bundle holds the issuer of "
                            "%s" % (name, ocsp.describe(leaf)))
    try:
        facts = ocsp.verify_response(staple_der, leaf, issuer, now, source=name)
    except ocsp.OcspStale as error:
        result = _blank("stale", present=True, serial=serial, error="%s: %s" % (name, error.msg))
        # signature and certID were verified before the times (verify_response's order): the times are its own
        single = ocsp.find_single(x509_ocsp.load_der_ocsp_response(staple_der), leaf, issuer)
        result.update(this_update=_time(single.this_update_utc), next_update=_time(single.next_update_utc))
        return result
    except ocsp.OcspError as error:
        return _blank("invalid", present=True, serial=serial, error="%s: %s" % (name, error.msg))
    result = _blank("verified", present=True, serial=serial)
    result.update((key, facts[key]) for key in ("status", "this_update", "next_update", "revocation_time",
                                                "revocation_reason"))
    return result


def _bundle_certificates(ca_bundle):
    if not ca_bundle:
        return []
    with open(ca_bundle, "rb") as handle:
        return ocsp.load_certificates(handle.read(), "ca_bundle %s" % ca_bundle)


def served_staple(facts, target, ca_bundle=None, timeout=5.0, now=None, fetch=None):
    """The ``staple`` entry of one tls_verify result, from ``facts`` (what verify_target saw) and a second
    handshake that asks for the staple, made only when the served certificate names an OCSP responder."""
    address, port, server_name = target["address"], target.get("port", 443), target["server_name"]
    what = "%s:%s (SNI %s)" % (address, port, server_name)
    if not facts.get("serial"):
        return _blank("not_checked", error="no certificate was served by %s: no staple to check" % what)
    if not facts.get("ocsp_responders"):
        return _blank("no_responder", serial=facts["serial"])
    if fetch is None and not HAS_PYOPENSSL:
        return _blank("not_checked", serial=facts["serial"], error=MISSING_PYOPENSSL)
    try:
        staple_der, chain = (fetch or fetch_staple)(address, port, server_name, timeout)
    except CONNECTION_ERRORS as error:
        why = str(error) or type(error).__name__
        return _blank("not_checked", serial=facts["serial"],
                      error="the TLS connection to %s that asks for the staple failed: %s" % (what, why))
    try:
        extra = _bundle_certificates(ca_bundle) if chain and served_issuer(chain[0], chain[1:]) is None else []
    except (OSError, InputError) as error:
        return _blank("not_checked", serial=facts["serial"], error="ca_bundle %s: %s" % (ca_bundle, error))
    result = staple_facts(staple_der, chain, extra, now, what)
    if result.get("serial") and result["serial"] != facts["serial"]:
        # Two handshakes may reach two backends: the staple is judged for the certificate of its own handshake.
        note = "the handshake that asked for the staple served serial %s, not %s" % (result["serial"], facts["serial"])
        result["error"] = "%s; %s" % (result["error"], note) if result["error"] else note
    return result


def verify_targets_with_staples(targets, ca_bundle=None, timeout=5.0, wait=10.0, workers=16, verify_chain=True,
                                check_staple=True):
    """probe.verify_target for every target in parallel, then (``check_staple``) its ``staple`` in the same
    worker: one more handshake for a certificate that names an OCSP responder, none for one that does not."""
    if not targets:
        return []

    def one(target):
        facts = verify_target(target, ca_bundle, timeout, wait, verify_chain=verify_chain)
        if check_staple:
            facts["staple"] = served_staple(facts, target, ca_bundle, timeout)
        return facts
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
        return list(pool.map(one, targets))


__all__ = ["OUTCOMES", "fetch_staple", "served_issuer", "staple_facts", "served_staple",
           "verify_targets_with_staples"]
