#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tls_verify
short_description: Check from the control node that hosts serve a trusted certificate for their names
version_added: 0.1.0
description:
  - Connects to each target with SNI, verifies the served chain against O(ca_bundle) (or the system
    trust store) and the host name, like a browser would, and reports serial, issuer and not-after.
  - With C(expect_serial) in a target, waits up to O(wait) seconds for a reload to take effect.
  - Many targets are checked in parallel threads in one call (run it once for the fleet).
  - With O(check_staple), it also reads the OCSP response the host staples in the handshake and verifies it
    against the issuer in the served chain (see RV(results[].staple)).
  - Read-only; it never changes anything.
  - Its action plugin runs this code inside Ansible's worker on the control node, not as a separate Python
    process; the task's host and connection are not used (plugins/plugin_utils/worker_module.py).
author:
  - certfleet.tls developers (@certfleet)
options:
  targets:
    description:
      - Hosts to check. Each item has C(address), C(server_name), and optionally C(port) (443), C(name),
        C(certificate) (certificate name, see O(expect_serials)) and C(expect_serial) (lower-case hex).
    type: list
    elements: dict
    required: true
  expect_serials:
    description:
      - Expected serial (lower-case hex) per certificate name; a target with C(certificate) set to such a name
        must serve that serial (its reload may take a moment, see O(wait)).
    type: dict
    default: {}
  ca_bundle:
    description: PEM file of trusted roots (for a private or test CA). Defaults to the system store.
    type: path
  timeout:
    description: Seconds per connection attempt.
    type: float
    default: 5
  wait:
    description: Seconds to keep retrying a target that does not yet verify (a reload in flight).
    type: float
    default: 10
  verify_chain:
    description:
      - Verify the served chain against O(ca_bundle) or the system store. V(false) for a CA that browsers do
        not trust (Let's Encrypt staging); names and the expected serial are still checked, and each result
        says C(chain_verified=false).
      - When not set, it is decided from O(acme_directory) and O(ca_bundle), see there. Without either, the chain
        is verified.
    type: bool
  acme_directory:
    description:
      - The ACME directory (alias or URL, as in M(certfleet.tls.acme_order)) that issued the certificates.
      - When O(verify_chain) is not set and O(ca_bundle) is not set, the chain is not verified for the staging
        and test CAs whose roots no browser trusts (V(letsencrypt_staging), V(buypass_test), V(google_test)),
        and verified for every other alias or URL. This list is the collection's only one.
      - An unknown alias that is not an http(s) URL is refused, naming it.
    type: str
  fail_on_error:
    description: Fail when any target does not verify.
    type: bool
    default: true
  check_staple:
    description:
      - Ask each target for its OCSP staple (the TLS C(status_request) extension, RFC 6066 section 8) and verify
        the stapled response with the module_utils that M(certfleet.tls.ocsp_stapling) uses - signer (the issuer or a
        delegated responder it signed for OCSP), signature, certID of the served certificate, this_update and
        next_update - against the issuer found in the served chain (or in O(ca_bundle) for a leaf signed by a
        root). The result is RV(results[].staple).
      - It costs one more handshake per target, and only for a certificate that names an OCSP responder in its
        Authority Information Access. A certificate without one (Let's Encrypt since 2025) has nothing to staple
        and is not asked. Python's C(ssl) cannot read staples, so that handshake is pyOpenSSL's.
      - A staple never changes RV(results[].verified) nor fails the task; read RV(results[].staple.outcome).
    type: bool
    default: true
extends_documentation_fragment:
  - certfleet.tls.controller_module
attributes:
  check_mode:
    support: full
    description: Read-only; runs in check mode too.
requirements:
  - cryptography on the control node
  - pyOpenSSL on the control node for O(check_staple) (it comes with acme)
"""

EXAMPLES = r"""
- name: Verify what the fleet serves
  certfleet.tls.tls_verify:
    targets:
      - {name: web1, address: 192.0.2.10, server_name: www.example.org}
  delegate_to: localhost
  run_once: true

- name: Verify names and serial of staging certificates (their chain ends at an untrusted root)
  certfleet.tls.tls_verify:
    acme_directory: letsencrypt_staging
    targets:
      - {name: web1, address: 192.0.2.10, server_name: www.example.org}
  delegate_to: localhost
  run_once: true

- name: Verify the fleet and the OCSP staples it serves
  certfleet.tls.tls_verify:
    targets: "{{ targets }}"
    fail_on_error: false
  delegate_to: localhost
  run_once: true
  register: served

- name: Fail for a site whose staple is not a verified good one
  ansible.builtin.assert:
    that: item.staple.outcome in ['verified', 'no_responder'] and item.staple.status in [none, 'good']
    fail_msg: "{{ item.name }} {{ item.server_name }}: staple {{ item.staple.outcome }} {{ item.staple.status }}
      {{ item.staple.error }}"
  loop: "{{ served.results }}"
  loop_control:
    label: "{{ item.name }} {{ item.server_name }}"
"""

RETURN = r"""
results:
  description: One entry per target.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Target name.
      type: str
    verified:
      description: Whether the chain and name verified (and the serial matched when expected).
      type: bool
    chain_verified:
      description: Whether the chain itself was verified (false with O(verify_chain=false)).
      type: bool
    error:
      description: Why verification failed.
      type: str
    serial:
      description: Serial of the served certificate (hex).
      type: str
    issuer:
      description: Issuer common name.
      type: str
    not_after:
      description: Expiry (UTC, ISO 8601).
      type: str
    domains:
      description: DNS names in the served certificate.
      type: list
    spki_sha256:
      description: base64 SHA-256 of the served key's SubjectPublicKeyInfo (the HPKP pin, RFC 7469).
      type: str
    tlsa_3_1_1:
      description: hex data of the DANE TLSA 3 1 1 record that matches the served key (RFC 6698).
      type: str
    scts:
      description: Certificate Transparency SCTs embedded in the served certificate (log_id, timestamp).
      type: list
    ocsp_responders:
      description:
        - OCSP responder URLs of the served certificate. Empty when the issuer runs none (Let's Encrypt since
          2025), in which case there is nothing to staple.
      type: list
    staple:
      description:
        - The OCSP staple served in the handshake, verified against the issuer in the served chain. Its
          signature is worth what the chain is worth, see RV(results[].chain_verified).
      returned: when O(check_staple=true)
      type: dict
      contains:
        outcome:
          description:
            - V(verified) - a staple was served and verifies; RV(results[].staple.status) is its status.
            - V(not_stapled) - asked for, the server sent none.
            - V(stale) - signed and about the served certificate, but this_update is in the future or
              next_update is past.
            - V(invalid) - not OCSP data, an OCSP error status, a wrong signer or signature, or the certID of
              another certificate (a staple left from the certificate before a renewal).
            - V(no_responder) - the served certificate names no OCSP responder; nothing to staple, not asked.
            - V(not_checked) - it could not be asked or verified (no certificate served, the handshake failed, no
              issuer in the served chain or O(ca_bundle), pyOpenSSL missing); RV(results[].staple.error) says why.
          type: str
          sample: verified
        present:
          description: Whether the server stapled a response; null when it was not asked.
          type: bool
        status:
          description: V(good), V(revoked) or V(unknown), from a staple that verified; null otherwise.
          type: str
          sample: good
        this_update:
          description: this_update of the staple (UTC, ISO 8601), when it verified or is only stale.
          type: str
        next_update:
          description:
            - next_update of the staple (UTC, ISO 8601), when it verified or is only stale (then it is past).
            - Null for a staple without next_update (the responder may have newer status at any time).
          type: str
          sample: "2026-12-08T10:00:00Z"
        revocation_time:
          description: When the certificate was revoked, from a verified V(revoked) staple.
          type: str
        revocation_reason:
          description: The RFC 5280 reason of a verified V(revoked) staple (for example V(keyCompromise)), if given.
          type: str
        serial:
          description:
            - Serial (hex) of the certificate the staple was verified for, the one served in the handshake that
              asked for it. It differs from RV(results[].serial) only when two handshakes reached two backends,
              which RV(results[].staple.error) then says.
          type: str
        error:
          description: Why the staple is not V(verified), naming the target and the certificate; null otherwise.
          type: str
verify_chain:
  description: Whether the served chains were verified (O(verify_chain), or what O(acme_directory) decided).
  returned: always
  type: bool
failed_names:
  description: Targets that did not verify.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils import _glue
from ansible_collections.certfleet.tls.plugins.module_utils._acme.directory import is_untrusted, resolve_directory

try:
    from ansible_collections.certfleet.tls.plugins.module_utils._tls.staple import verify_targets_with_staples
    IMPORT_ERROR = None
except ImportError:
    import traceback
    IMPORT_ERROR = traceback.format_exc()


def chain_verification(params):
    """verify_chain as given, else off only for an untrusted (staging) CA without a CA bundle."""
    if params["acme_directory"]:
        resolve_directory(params["acme_directory"])  # a typo fails here, naming the value
    if params["verify_chain"] is not None:
        return params["verify_chain"]
    return bool(params["ca_bundle"]) or not is_untrusted(params["acme_directory"])


def verify(call):
    """The module's work: check the targets, probe them in parallel (see run_module for errors)."""
    p = call.params
    for index, target in enumerate(p["targets"]):
        if not target.get("address") or not target.get("server_name"):
            raise _glue.InputError("targets[%d] needs address and server_name, got %s" % (index, sorted(target)))
    verify_chain = chain_verification(p)
    for target in p["targets"]:
        if target.get("certificate") in p["expect_serials"] and not target.get("expect_serial"):
            target["expect_serial"] = p["expect_serials"][target["certificate"]]
    results = verify_targets_with_staples(p["targets"], p["ca_bundle"], p["timeout"], p["wait"],
                                          verify_chain=verify_chain, check_staple=p["check_staple"])
    failed = [r.get("name") or r["server_name"] for r in results if not r["verified"]]
    out = dict(changed=False, results=results, failed_names=failed, verify_chain=verify_chain)
    if failed and p["fail_on_error"]:
        reasons = "; ".join("%s: %s" % (r.get("name"), r["error"]) for r in results if not r["verified"])
        out.update(failed=True, msg="%d of %d targets do not serve a verified certificate: %s"
                   % (len(failed), len(results), reasons))
    return out


def module_kwargs():
    """The AnsibleModule arguments, shared with the action plugin that runs this module in Ansible's worker."""
    return dict(
        argument_spec=dict(
            targets=dict(type="list", elements="dict", required=True),
            expect_serials=dict(type="dict", default={}),
            ca_bundle=dict(type="path"),
            timeout=dict(type="float", default=5),
            wait=dict(type="float", default=10),
            verify_chain=dict(type="bool"),
            acme_directory=dict(type="str"),
            fail_on_error=dict(type="bool", default=True),
            check_staple=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )


def run(module):
    _glue.run_module(module, verify, acme_requests=False, requires_acme=False, import_error=IMPORT_ERROR)


def main():
    run(AnsibleModule(**module_kwargs()))


if __name__ == "__main__":
    main()
