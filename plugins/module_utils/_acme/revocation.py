# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Revocation (RFC 8555 §7.6), signed by the account key or by the certificate's own key."""

from __future__ import annotations

from .._tls.x509info import load_certificate
from ..errors import AcmeProblem, InputError

# RFC 5280 §5.3.1 reason codes that ACME CAs accept.
REASONS = {
    "unspecified": 0,
    "keyCompromise": 1,
    "affiliationChanged": 3,
    "superseded": 4,
    "cessationOfOperation": 5,
}


def reason_code(reason):
    if isinstance(reason, int) or (isinstance(reason, str) and reason.isdigit()):
        code = int(reason)
        if code in REASONS.values():
            return code
    elif reason in REASONS:
        return REASONS[reason]
    raise InputError("revocation reason %r is not one of %s (or their codes %s)"
                     % (reason, ", ".join(REASONS), sorted(REASONS.values())))


def load_revocable(cert_pem, source="certificate to revoke"):
    """The certificate to revoke, or an InputError naming ``source`` (the option that gave it)."""
    try:
        return load_certificate(cert_pem)
    except ValueError:
        raise InputError("%s is not a PEM certificate" % source)


def revoke(session, cert_pem, reason="unspecified"):
    """Revoke; True when revoked now, False when the CA says it already was (idempotent).

    With a session whose key is the certificate's key and no account, the JWS carries that key
    (RFC 8555 §7.6: proof of possession of the certificate key, for a compromised key).
    """
    cert = load_revocable(cert_pem)
    try:
        session.client.revoke(cert, reason_code(reason))
    except AcmeProblem as problem:
        if (problem.problem_type or "").endswith(":alreadyRevoked"):
            return False
        raise
    return True
