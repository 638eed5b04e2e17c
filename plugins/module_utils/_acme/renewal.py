# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACME Renewal Information (RFC 9773): certificate identifiers, the CA's window, and our decision."""

from __future__ import annotations

import base64
import datetime
import hashlib

try:
    from cryptography import x509
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

from ..errors import AcmeProblem, InputError

UTC = datetime.timezone.utc


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def ari_cert_id(cert):
    """RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(DER serial, without tag and length)."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        aki = None
    if not aki:
        raise InputError("certificate %x has no Authority Key Identifier: ARI cannot name it" % cert.serial_number)
    serial = cert.serial_number
    # DER INTEGER content: big-endian two's complement, with a leading 0x00 when the top bit is set.
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big")
    return "%s.%s" % (_b64url(aki), _b64url(serial_bytes))


def _parse_time(value):
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def fetch_renewal_info(session, cert):
    """GET <renewalInfo>/<cert id> (unauthenticated). Returns dict(start, end, retry_after, explanation_url)."""
    return _fetch_renewal_info(session.net, session.directory_json, cert)


def _fetch_renewal_info(net, directory_json, cert):
    # Imported here, not at the top: .network pulls in requests and acme (0.09 s), and the decide step imports
    # this module in every forked worker, once per host and run, while only runs with certificate_ari fetch.
    from .network import parse_retry_after
    base = directory_json.get("renewalInfo")
    if not base:
        return None
    url = base.rstrip("/") + "/" + ari_cert_id(cert)
    response = net.get(url, content_type="application/json")
    body = response.json()
    window = body.get("suggestedWindow") or {}
    try:
        start, end = _parse_time(window["start"]), _parse_time(window["end"])
    except (KeyError, ValueError):
        raise AcmeProblem("renewalInfo from %s has no valid suggestedWindow: %s" % (url, str(body)[:200]), url=url)
    if end < start:
        raise AcmeProblem("renewalInfo from %s ends before it starts" % url, url=url)
    return {"start": start, "end": end, "retry_after": parse_retry_after(response.headers.get("Retry-After")),
            "explanation_url": body.get("explanationURL"), "url": url}


def renew_time_in_window(start, end, cert_id):
    """A point in the window, uniform across a fleet but stable for one certificate (RFC 9773 §4.2 asks for a
    random point; a hash of the certificate id keeps the decision the same on every run until it is due)."""
    fraction = int.from_bytes(hashlib.sha256(cert_id.encode()).digest()[:8], "big") / float(2 ** 64)
    return start + (end - start) * fraction


def ari_decision(info, cert_id, now=None):
    """(due, reason) from the CA's window. A window already in the past means: renew now (revocation, mis-issuance)."""
    now = now or datetime.datetime.now(UTC)
    renew_at = renew_time_in_window(info["start"], info["end"], cert_id)
    if now >= renew_at:
        reason = "ARI window %s..%s: renewal time %s has come" % (
            info["start"].isoformat(), info["end"].isoformat(), renew_at.isoformat())
        if info.get("explanation_url"):
            reason += " (CA explains: %s)" % info["explanation_url"]
        return True, reason
    return False, "ARI: renew at %s (window %s..%s)" % (
        renew_at.isoformat(), info["start"].isoformat(), info["end"].isoformat())


def anonymous_renewal_info(directory_url, cert, ca_bundle=None, timeout=20):
    """ARI needs no account: GET the directory, then GET renewalInfo (RFC 9773 §4.3). Used by the decision
    step on each host's deployed certificate. Returns None when the CA offers no ARI."""
    from .network import ResilientNetwork, RetryPolicy  # local import: keeps this module light for tests
    net = ResilientNetwork(None, None, verify_ssl=ca_bundle or True, policy=RetryPolicy(timeout=timeout, attempts=3))
    return _fetch_renewal_info(net, net.get(directory_url).json(), cert)
