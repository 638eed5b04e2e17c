#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ocsp_stapling
short_description: Fetch and verify a certificate's OCSP response on the control node, ready to staple
version_added: 0.1.0
description:
  - Runs on the control node, so the web servers need no outbound access. Builds an OCSP request (RFC 6960,
    SHA-1 certID, no nonce, as RFC 5019 profiles it for cacheable responses) with C(cryptography), POSTs it to
    the certificate's responder (C(Content-Type application/ocsp-request)), and verifies the answer before
    returning it.
  - 'The checks: the response is signed by the issuer, or by a delegated responder whose certificate the
    issuer signed and which carries the OCSP-signing extended key usage (RFC 6960 section 4.2.2.2); the
    signature verifies; the certID (hashes of the issuer''s name and key, and the serial) is the
    certificate''s; C(this_update) is not in the future and C(next_update) is not past, both with 5 minutes
    of clock skew, as OpenSSL allows.'
  - Fails with a message naming the certificate and the responder on a bad signature or signer, a stale
    response, an unreachable responder or an HTTP error, an OCSP error status, or data that is not OCSP.
  - A verified C(revoked) or C(unknown) status is returned in full, and fails the task by default
    (O(fail_on_bad_status)), naming the certificate. Such a response must never be stapled.
  - A certificate whose Authority Information Access names no OCSP responder (and no O(responder_url)) gives
    RV(supported=false), which is not a failure. Let's Encrypt ended OCSP in 2025, so its certificates have
    nothing to staple; other CAs still run responders.
  - 'What to do with RV(response): nginx serves it from a file (C(ssl_stapling_file), refreshed when
    C(certfleet.tls) decides the deployed staple is past half of its validity, see RV(refresh_at)); Apache has
    no staple-file directive and fetches its own staples (C(SSLUseStapling), C(SSLStaplingCache)), which needs
    the server to reach the responder. See docs/ocsp.md.'
  - Only reads, so it runs in check mode as well and always reports C(changed=false).
  - Its action plugin runs this code inside Ansible's worker on the control node, not as a separate Python
    process; the task's host and connection are not used (plugins/plugin_utils/worker_module.py).
author:
  - certfleet.tls developers (@certfleet)
options:
  cert_path:
    description:
      - Path on the control node of the certificate to check, PEM or DER.
      - A PEM file with several certificates (a full chain) is read from its first one, the leaf; its second one
        is then the issuer unless O(issuer_path), O(issuer_content), O(chain_path) or O(chain_content) is given.
      - Exactly one of O(cert_path) and O(cert_content) is required.
    type: path
  cert_content:
    description:
      - The certificate to check as PEM text (or a full chain, read as for O(cert_path)).
    type: str
  issuer_path:
    description:
      - Path on the control node of the certificate of the CA that signed the certificate, PEM or DER.
      - The OCSP request names the issuer's name and key, so this must be the certificate's own issuer.
    type: path
  issuer_content:
    description: The issuer's certificate as PEM text.
    type: str
  chain_path:
    description:
      - Path of the chain file the CA sent (without the leaf); its first certificate is the issuer.
      - At most one of O(issuer_path), O(issuer_content), O(chain_path) and O(chain_content) may be given.
    type: path
  chain_content:
    description: The chain as PEM text; its first certificate is the issuer.
    type: str
  responder_url:
    description:
      - The responder to ask (C(http://) or C(https://)). Default is the first OCSP URL of the certificate's
        Authority Information Access extension.
    type: str
  timeout:
    description: Seconds to wait for the responder's connection and answer.
    type: float
    default: 10
  fail_on_bad_status:
    description:
      - Fail the task, naming the certificate, when the verified status is C(revoked) or C(unknown). The full
        result (status, revocation time and reason) is returned either way.
      - With V(false) the task succeeds and the caller must look at RV(status) before stapling anything.
    type: bool
    default: true
extends_documentation_fragment:
  - certfleet.tls.controller_module
attributes:
  check_mode:
    support: full
    description: The module only reads (the responder is asked in check mode too); it never changes anything.
requirements:
  - cryptography on the control node
seealso:
  - name: RFC 6960, X.509 Internet Public Key Infrastructure Online Certificate Status Protocol - OCSP
    description: The request, the response, and the rules for delegated responders (section 4.2.2.2).
    link: https://www.rfc-editor.org/rfc/rfc6960
  - name: RFC 5019, The Lightweight OCSP Profile for High-Volume Environments
    description: SHA-1 certIDs and no nonce, so that responses can be cached and stapled.
    link: https://www.rfc-editor.org/rfc/rfc5019
"""

EXAMPLES = r"""
- name: Read the deployed full chain from the web server
  ansible.builtin.slurp:
    src: /etc/ssl/certfleet/www.example.org/live/fullchain.pem
  register: www_fullchain

- name: Fetch and verify a staple on the control node (the leaf's issuer is the chain's second certificate)
  certfleet.tls.ocsp_stapling:
    cert_content: "{{ www_fullchain.content | b64decode }}"
  delegate_to: localhost
  become: false
  register: www_ocsp

- name: Say what would be stapled (the certfleet.tls.nginx role pushes the response as <dir>/live/ocsp.der)
  ansible.builtin.debug:
    msg: "{{ www_ocsp.certificate }}: {{ www_ocsp.status }}, refresh after {{ www_ocsp.refresh_at }}"
  when: www_ocsp.supported

- name: Check a certificate against an explicit responder, reporting a revoked status without failing
  certfleet.tls.ocsp_stapling:
    cert_path: /srv/pki/www.example.org/cert.pem
    issuer_path: /srv/pki/www.example.org/chain.pem
    responder_url: http://ocsp.example-ca.test/
    timeout: 5
    fail_on_bad_status: false
  delegate_to: localhost
  become: false
  register: www_ocsp
"""

RETURN = r"""
supported:
  description:
    - Whether the certificate has an OCSP responder to ask (an OCSP URL in its Authority Information Access, or
      O(responder_url)). V(false) is not a failure and comes with RV(msg); then only RV(supported),
      RV(certificate), RV(serial) and RV(responder_url) (V(null)) are returned.
  returned: always
  type: bool
  sample: true
msg:
  description: Why there is nothing to staple, when RV(supported) is V(false); the failure message otherwise.
  returned: when RV(supported) is false, or on failure
  type: str
  sample: "cert_path /srv/pki/le.pem (CN=www.example.org, serial 4a3f) names no OCSP responder ..."
certificate:
  description: How messages name the certificate, the input and its subject and serial (never its content).
  returned: always
  type: str
  sample: cert_path /srv/pki/www.example.org/cert.pem (CN=www.example.org, serial 4a3f0c)
serial:
  description: The certificate's serial number, lowercase hex.
  returned: always
  type: str
  sample: 4a3f0c
responder_url:
  description: The responder that was asked, V(null) when RV(supported) is V(false).
  returned: always
  type: str
  sample: http://ocsp.example-ca.test/
status:
  description: The verified certificate status. Only V(good) may be stapled.
  returned: when supported
  type: str
  choices: [good, revoked, unknown]
  sample: good
revocation_time:
  description: When the certificate was revoked (UTC, ISO 8601), V(null) unless RV(status) is V(revoked).
  returned: when supported
  type: str
  sample: "2026-11-30T10:00:00Z"
revocation_reason:
  description:
    - The CRL reason of the revocation (RFC 5280 section 5.3.1 names such as C(keyCompromise),
      C(superseded)), V(null) when the responder gave none or the certificate is not revoked.
  returned: when supported
  type: str
  sample: keyCompromise
this_update:
  description: When the responder knew the status to be correct (UTC, ISO 8601).
  returned: when supported
  type: str
  sample: "2026-11-30T10:00:00Z"
next_update:
  description: When newer status will be available (UTC, ISO 8601); V(null) when the responder set none.
  returned: when supported
  type: str
  sample: "2026-12-07T10:00:00Z"
refresh_at:
  description:
    - Half-way between RV(this_update) and RV(next_update) (UTC, ISO 8601), when a deployed staple should be
      replaced; V(null) without RV(next_update). The same rule as the C(staple_needs_refresh) helper of
      C(module_utils/_tls/ocsp.py).
  returned: when supported
  type: str
  sample: "2026-12-03T22:00:00Z"
produced_at:
  description: When the responder signed the response (UTC, ISO 8601).
  returned: when supported
  type: str
  sample: "2026-11-30T10:00:00Z"
signer:
  description: Who signed the response, C(issuer) or C(delegated responder <subject and serial>).
  returned: when supported
  type: str
  sample: "delegated responder CN=Example OCSP Responder, serial 1"
response:
  description:
    - The verified OCSP response, DER encoded in base64, as nginx's C(ssl_stapling_file) wants it once
      decoded. Returned for a revoked or unknown status too, which must never be stapled.
  returned: when supported
  type: str
  sample: MIIBvQoBAKCCAbYwggGyBgkrBgEFBQcwAQEEggGjMIIBnzCBiKIWBBQ...
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils import _glue

try:
    from ansible_collections.certfleet.tls.plugins.module_utils._tls import ocsp
    IMPORT_ERROR = None
except ImportError:
    import traceback
    IMPORT_ERROR = traceback.format_exc()

ISSUER_INPUTS = (("issuer_path", "issuer_content"), ("chain_path", "chain_content"))


def input_name(params, path_option, content_option):
    """How messages name an input: 'cert_path /x/cert.pem' or 'cert_content'."""
    return "%s %s" % (path_option, params[path_option]) if params[path_option] else content_option


def read_certificates(call, path_option, content_option):
    data = _glue.read_input(call.module, path_option, content_option)
    if data is None:
        return None
    return ocsp.load_certificates(data, input_name(call.params, path_option, content_option))


def find_issuer(call, cert_what, certs):
    """issuer_*, else the first certificate of chain_*, else the second of a full chain given as the cert."""
    for path_option, content_option in ISSUER_INPUTS:
        found = read_certificates(call, path_option, content_option)
        if found:
            return found[0]
    if len(certs) > 1:
        return certs[1]
    raise _glue.InputError("%s holds only the leaf: give its issuer with issuer_path, issuer_content, chain_path or "
                           "chain_content (the OCSP request names the issuer's key, RFC 6960 §4.1.1)" % cert_what)


def bad_status_message(result):
    where = "according to its OCSP responder %s" % result["responder_url"]
    if result["status"] == "revoked":
        reason = " (%s)" % result["revocation_reason"] if result["revocation_reason"] else ""
        return "%s is REVOKED since %s%s %s: it must not be served or stapled" % (
            result["certificate"], result["revocation_time"], reason, where)
    return ("%s has status UNKNOWN %s (the responder does not know it: not issued by this CA, or not yet "
            "published): it must not be stapled" % (result["certificate"], where))


def check(call):
    """The module's work (see _glue.run_module for the error funnel)."""
    params = call.params
    cert_what = input_name(params, "cert_path", "cert_content")
    certs = read_certificates(call, "cert_path", "cert_content")
    cert = certs[0]
    issuer = find_issuer(call, cert_what, certs)
    result = ocsp.fetch_status(cert, issuer, responder_url=params["responder_url"], timeout=params["timeout"],
                               what=cert_what)
    result["changed"] = False
    if result["supported"] and result["status"] != "good" and params["fail_on_bad_status"]:
        result.update(failed=True, msg=bad_status_message(result))
    return result


def module_kwargs():
    """The AnsibleModule arguments, shared with the action plugin that runs this module in Ansible's worker."""
    return dict(
        argument_spec=dict(
            cert_path=dict(type="path"),
            cert_content=dict(type="str"),
            issuer_path=dict(type="path"),
            issuer_content=dict(type="str"),
            chain_path=dict(type="path"),
            chain_content=dict(type="str"),
            responder_url=dict(type="str"),
            timeout=dict(type="float", default=10),
            fail_on_bad_status=dict(type="bool", default=True),
        ),
        mutually_exclusive=[("cert_path", "cert_content"),
                            ("issuer_path", "issuer_content", "chain_path", "chain_content")],
        required_one_of=[("cert_path", "cert_content")],
        supports_check_mode=True,
    )


def run(module):
    _glue.run_module(module, check, acme_requests=False, requires_acme=False, import_error=IMPORT_ERROR)


def main():
    run(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
