# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Challenge types as pluggable pieces. http-01 now; dns-01 adds one class and one registry entry."""

from __future__ import annotations

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


CHALLENGE_TYPES = {"http-01": Http01()}


def get_challenge_type(name):
    try:
        return CHALLENGE_TYPES[name]
    except KeyError:
        # The operator's challenge_type, not the CA's answer: a local fault (InputError), never an AcmeProblem.
        raise InputError("challenge_type %r is not supported; use one of %s" % (name, ", ".join(sorted(CHALLENGE_TYPES))))
