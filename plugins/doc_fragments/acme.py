# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Options shared by every module that talks to an ACME CA (paired with _glue.acme_argument_spec)."""

    DOCUMENTATION = r"""
options:
  acme_directory:
    description:
      - ACME directory URL, or one of the aliases V(letsencrypt_staging), V(letsencrypt), V(buypass_test),
        V(buypass), V(zerossl), V(google_test), V(google), V(sslcom_rsa), V(sslcom_ecc).
      - The default is Let's Encrypt B(staging), whose certificates browsers do not trust. Production is an
        explicit choice, once a staging run works.
    type: str
    default: letsencrypt_staging
  acme_ca_bundle:
    description:
      - CA bundle (PEM file) to trust for the ACME server's own HTTPS, for a private CA or a test CA
        such as Pebble. By default the system trust store is used.
      - A server certificate that does not verify fails the call at once, without retries, with a message
        that names the URL and this option.
    type: path
  account_key_path:
    description: Path on the control node of the ACME account private key (EC P-256/P-384 or RSA, PEM).
    type: path
  account_key_content:
    description: The ACME account private key itself (from a vault or an AWX credential). Never logged.
    type: str
  account_uri:
    description:
      - Account URL, when already known (for example from the first step's result). Skips the account lookup.
    type: str
  account_email:
    description: Contact address registered with a new account.
    type: str
  acme_terms_agreed:
    description:
      - Agree to the CA's terms of service when an account has to be created. Must be set explicitly.
    type: bool
    default: false
  acme_eab_kid:
    description: External Account Binding key identifier (RFC 8555 section 7.3.4), given by CAs that require it.
    type: str
  acme_eab_hmac_key:
    description: External Account Binding HMAC key (base64url), given with O(acme_eab_kid). Never logged.
    type: str
  acme_eab_alg:
    description: MAC algorithm of the External Account Binding.
    type: str
    choices: [HS256, HS384, HS512]
    default: HS256
  acme_timeout:
    description:
      - Overall time budget in seconds for this call (all requests, retries and polling). A CA that does not
        answer makes the call fail with a clear message within this time, and nothing on the hosts changes.
      - A C(Retry-After) from the CA (on 429 or 503) is honoured in full while it fits in what is left of this
        budget. A longer one fails the call at once, and the message gives both the C(Retry-After) value and
        the seconds left.
    type: float
    default: 300
  acme_retries:
    description: Attempts per request for transient failures (badNonce, connection errors, 5xx, 429).
    type: int
    default: 8
"""
