#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: acme_revoke
short_description: Revoke a certificate at its ACME CA, with the account key or the certificate's key
version_added: 0.1.0
description:
  - Runs on the control node. Sends an RFC 8555 section 7.6 revocation request.
  - Signed with the ACME account key (O(account_key_path) or O(account_key_content)) by default, or with
    the certificate's own private key (O(private_key_path) or O(private_key_content)), which is what to use
    after a key compromise when the account is not at hand.
  - Idempotent, a certificate the CA reports as already revoked gives C(changed=false).
  - Check mode checks the inputs and never contacts the CA.
author:
  - certfleet.tls developers (@certfleet)
options:
  certificate_path:
    description: Certificate to revoke (PEM file on the control node).
    type: path
  certificate_content:
    description: Certificate to revoke (PEM).
    type: str
  private_key_path:
    description: Private key of the certificate, to sign the request with it instead of the account key.
    type: path
  private_key_content:
    description: Private key of the certificate (PEM). Never logged.
    type: str
  reason:
    description:
      - RFC 5280 reason, by name or code. Use V(keyCompromise) when the key leaked (key rotation does).
    type: str
    choices: [unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, '0', '1', '3', '4', '5']
    default: unspecified
extends_documentation_fragment:
  - certfleet.tls.acme
  - certfleet.tls.controller_module
attributes:
  check_mode:
    support: full
    description: Checks the inputs and never contacts the CA.
requirements:
  - acme and cryptography on the control node
"""

EXAMPLES = r"""
- name: Revoke a certificate whose key leaked, signed by that key
  certfleet.tls.acme_revoke:
    acme_directory: letsencrypt
    certificate_path: /srv/pki/www.example.org/cert.pem
    private_key_path: /srv/pki/www.example.org/privkey.pem
    reason: keyCompromise
  delegate_to: localhost
"""

RETURN = r"""
revoked:
  description: Whether this call revoked the certificate (false when it already was).
  returned: success
  type: bool
serial:
  description: Serial of the certificate (hex).
  returned: always
  type: str
acme_requests:
  description: HTTP requests sent to the CA.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils import _glue

try:
    from ansible_collections.certfleet.tls.plugins.module_utils._acme import revocation
    from ansible_collections.certfleet.tls.plugins.module_utils._tls.x509info import certificate_facts
except ImportError:
    revocation = None


def revoke_certificate(call):
    """The module's work: read and check the certificate, then one revocation request (see run_module)."""
    p = call.params
    cert_pem = _glue.read_input(call.module, "certificate_path", "certificate_content")
    source = "certificate_path %s" % p["certificate_path"] if p["certificate_path"] else "certificate_content"
    serial = certificate_facts(revocation.load_revocable(cert_pem, source))["serial"]
    call.on_failure["serial"] = serial
    code = revocation.reason_code(p["reason"])
    if call.check_mode:
        return dict(changed=True, serial=serial, acme_requests=0)
    if p["private_key_path"] or p["private_key_content"]:
        # Signed by the certificate's key: no account, the JWS carries that key (RFC 8555 §7.6).
        session = call.open_session(account=False,
                                    key_pem=_glue.read_input(call.module, "private_key_path", "private_key_content"))
    else:
        session = call.open_session()
    revoked = revocation.revoke(session, cert_pem, code)
    return dict(changed=revoked, revoked=revoked, serial=serial, acme_requests=session.request_count)


def main():
    argument_spec = _glue.acme_argument_spec()
    argument_spec.update(
        certificate_path=dict(type="path"),
        certificate_content=dict(type="str"),
        private_key_path=dict(type="path"),
        private_key_content=dict(type="str", no_log=True),
        reason=dict(type="str", default="unspecified",
                    choices=["unspecified", "keyCompromise", "affiliationChanged", "superseded",
                             "cessationOfOperation", "0", "1", "3", "4", "5"]),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("certificate_path", "certificate_content"), ("private_key_path", "private_key_content"),
                            ("account_key_path", "account_key_content")],
        required_one_of=[("certificate_path", "certificate_content"),
                         ("account_key_path", "account_key_content", "private_key_path", "private_key_content")],
        supports_check_mode=True,
    )
    _glue.run_module(module, revoke_certificate)


if __name__ == "__main__":
    main()
