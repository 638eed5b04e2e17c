# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACME directory aliases. Staging is the default: production is an explicit choice."""

from __future__ import annotations

from ..errors import InputError

# Known public RFC 8555 CAs. The staging/test endpoints come first on purpose.
DIRECTORY_ALIASES = {
    "letsencrypt_staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
    "letsencrypt": "https://acme-v02.api.letsencrypt.org/directory",
    "buypass_test": "https://api.test4.buypass.no/acme/directory",
    "buypass": "https://api.buypass.com/acme/directory",
    "zerossl": "https://acme.zerossl.com/v2/DV90",  # requires External Account Binding
    "google_test": "https://dv.acme-v02.test-api.pki.goog/directory",  # requires EAB
    "google": "https://dv.acme-v02.api.pki.goog/directory",  # requires EAB
    "sslcom_rsa": "https://acme.ssl.com/sslcom-dv-rsa",  # requires EAB
    "sslcom_ecc": "https://acme.ssl.com/sslcom-dv-ecc",  # requires EAB
}
DEFAULT_DIRECTORY = "letsencrypt_staging"
# Staging/test endpoints: their certificates chain to roots that no browser or OS trusts.
UNTRUSTED_ALIASES = frozenset(("letsencrypt_staging", "buypass_test", "google_test"))


def resolve_directory(alias_or_url):
    """Return the directory URL for an alias or an https URL; reject anything else by name."""
    value = (alias_or_url or DEFAULT_DIRECTORY).strip()
    if value in DIRECTORY_ALIASES:
        return DIRECTORY_ALIASES[value]
    if value.startswith("https://") or value.startswith("http://"):
        return value
    raise InputError(
        "acme_directory %r is neither a known alias (%s) nor an http(s) URL"
        % (value, ", ".join(sorted(DIRECTORY_ALIASES)))
    )


def is_untrusted(directory):
    """True when ``directory`` (an alias, or the URL of one) is a CA whose certificates browsers do not trust.

    The one list of staging/test CAs: tls_verify turns chain verification off for them by default, and the
    certificate role asks tls_verify rather than keeping a list of its own. An unknown URL (a private CA,
    Pebble) is not known to be untrusted: False, and the caller gives a CA bundle instead. None: False.
    """
    if not directory:
        return False
    value = directory.strip()
    return value in UNTRUSTED_ALIASES or value in set(DIRECTORY_ALIASES[alias] for alias in UNTRUSTED_ALIASES)
