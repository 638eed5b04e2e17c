# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Challenge types as pluggable pieces: http-01 (a file on port 80) and dns-01 (a TXT record), one class each."""

from __future__ import annotations

import base64
import hashlib
import re

from ..errors import AcmeProblem, InputError

# RFC 8555 §8.1: a token is base64url without padding. Anything else could walk out of the webroot.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]+")  # used with fullmatch(): "$" would accept a final newline
MAX_TOKEN_LENGTH = 256


def check_token(token, source="the CA"):
    """Refuse a token that is not plain base64url; the message names the token (shortened)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH or not TOKEN_PATTERN.fullmatch(token):
        shown = repr(token)[:60]
        raise AcmeProblem("token %s from %s is not base64url (RFC 8555 §8.1); refusing to use it as a file name"
                          % (shown, source), problem_type="certfleet:hostileToken")
    return token


class Http01:
    """HTTP-01 (RFC 8555 §8.3): a file under /.well-known/acme-challenge/ on port 80 of every backend."""

    name = "http-01"

    def describe(self, challenge_body, account_jwk, identifier, source):
        token = check_token(challenge_body.chall.encode("token"), source)
        return {
            "type": self.name,
            "identifier": identifier,
            "token": token,
            "key_authorization": challenge_body.chall.validation(account_jwk),
            "path": ".well-known/acme-challenge/" + token,
            "url": challenge_body.uri,
        }


def dns01_txt_value(key_authorization):
    """RFC 8555 §8.4: the TXT value is the base64url (unpadded) SHA-256 digest of the key authorization."""
    digest = hashlib.sha256(key_authorization.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def dns01_record_name(identifier):
    """RFC 8555 §8.4: ``_acme-challenge.`` + the identifier; a wildcard's authorization carries its base name
    (RFC 8555 §7.1.3), so ``*.example.org`` and ``example.org`` share ``_acme-challenge.example.org``."""
    name = identifier.rstrip(".")
    return "_acme-challenge." + (name[2:] if name.startswith("*.") else name)


class Dns01:
    """DNS-01 (RFC 8555 §8.4): a TXT record at ``_acme-challenge.<name>`` holding the key authorization's digest.

    The only challenge that can prove a wildcard, and the one for hosts the CA cannot reach on port 80. The record
    is placed by ``certfleet.tls.dns_record`` (RFC 2136); ``record`` and ``value`` are what it needs.
    """

    name = "dns-01"

    def describe(self, challenge_body, account_jwk, identifier, source):
        token = check_token(challenge_body.chall.encode("token"), source)
        key_authorization = challenge_body.chall.key_authorization(account_jwk)
        return {
            "type": self.name,
            "identifier": identifier,
            "token": token,
            "key_authorization": key_authorization,
            "record": dns01_record_name(identifier),
            "value": dns01_txt_value(key_authorization),
            "url": challenge_body.uri,
        }


def dns_records(challenges):
    """The TXT records of the dns-01 challenges, one entry per record name with every value it must hold (a
    wildcard and its apex both answer at ``_acme-challenge.<apex>``): the ``records`` of dns_record."""
    records = {}
    for chall in challenges or []:
        if chall.get("type") != Dns01.name:
            continue
        entry = records.setdefault(chall["record"], {"record": chall["record"], "type": "TXT", "values": []})
        if chall["value"] not in entry["values"]:
            entry["values"].append(chall["value"])
    return list(records.values())


CHALLENGE_TYPES = {"http-01": Http01(), "dns-01": Dns01()}


def get_challenge_type(name):
    try:
        return CHALLENGE_TYPES[name]
    except KeyError:
        # The operator's challenge_type, not the CA's answer: a local fault (InputError), never an AcmeProblem.
        raise InputError("challenge_type %r is not supported; use one of %s" % (name, ", ".join(sorted(CHALLENGE_TYPES))))
