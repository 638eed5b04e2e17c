#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hpkp_header
short_description: Build an HPKP header (RFC 7469) from the active and backup keys, and list their SPKI pins
version_added: 0.1.0
description:
  - Runs on the control node. Computes the SPKI pin (base64 of the SHA-256 of the DER SubjectPublicKeyInfo,
    RFC 7469 section 2.4) of each input and builds a C(Public-Key-Pins-Report-Only) or C(Public-Key-Pins)
    header from them, active pins first, then backup pins, each once.
  - A pin equals what C(openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary
    | base64) prints for the same certificate.
  - Refuses to build a header without a backup pin that differs from every active pin (RFC 7469 section 4.3),
    when an input cannot be read (the message names it, for example C(backup[1])), and for a negative
    O(max_age). Nothing is returned then but the message.
  - Browsers removed HPKP (Chrome 72, Firefox 72), and every result warns about it. The same pins remain
    useful for DANE TLSA C(3 1 1) records, for pinning in apps, and for C(curl --pinnedpubkey sha256//<pin>).
  - Reads its inputs and changes nothing, so it reports C(changed=false), in check mode as well.
  - Inputs are never echoed back. A private key given as input is only used to derive its public half.
author:
  - certfleet.tls developers (@certfleet)
options:
  active:
    description:
      - The keys of the served chain, each a PEM string or the path of a PEM or DER file on the control node.
      - Each entry may be a certificate, a public key, a private key (PKCS#8, or traditional RSA or EC) or a
        CSR. Only its public key counts, so the certificate, its CSR and its private key give the same pin.
      - A PEM file with several blocks (a full chain) is read from its first block, the leaf. To pin an
        intermediate as well, list its certificate as another entry.
      - Encrypted private keys are refused; give the certificate, public key or CSR instead.
    type: list
    elements: str
    required: true
  backup:
    description:
      - Backup keys that are not in the served chain, in the same forms as O(active), or raw C(pin-sha256)
        values (44 characters of base64).
      - Give the public key or the CSR of the backup key rather than the key itself, so that the backup
        private key stays in the key store.
      - At least one backup pin must differ from every active pin (RFC 7469 section 4.3).
    type: list
    elements: str
    default: []
  max_age:
    description:
      - Seconds a browser would keep the pins (the C(max-age) directive). Must be 0 or more.
    type: int
    default: 5184000
  include_subdomains:
    description: Add the C(includeSubDomains) directive.
    type: bool
    default: false
  report_uri:
    description:
      - Absolute http(s) URI for pin validation failure reports (the C(report-uri) directive).
    type: str
  report_only:
    description:
      - Name the header C(Public-Key-Pins-Report-Only) (the default), which only reports; with V(false) it is
        C(Public-Key-Pins), which told browsers to enforce the pins.
    type: bool
    default: true
extends_documentation_fragment:
  - certfleet.tls.controller_module
attributes:
  check_mode:
    support: full
    description: The module never changes anything; check mode returns the same result.
requirements:
  - cryptography on the control node
seealso:
  - name: RFC 7469, Public Key Pinning Extension for HTTP
    description: The header this module builds, and the backup pin rule of section 4.3.
    link: https://www.rfc-editor.org/rfc/rfc7469
  - name: RFC 6698, DANE TLSA
    description: TLSA C(3 1 1) records hold the same SHA-256 of the SubjectPublicKeyInfo, in hex.
    link: https://www.rfc-editor.org/rfc/rfc6698
"""

EXAMPLES = r"""
- name: Report-Only header from the served certificate and the backup key's CSR
  certfleet.tls.hpkp_header:
    active:
      - /srv/pki/www.example.org/cert.pem
    backup:
      - /srv/pki/www.example.org/backup.csr
    report_uri: https://reports.example.org/hpkp
  delegate_to: localhost
  run_once: true
  become: false
  register: www_hpkp

- name: Enforcing header for a site and its subdomains, with a backup pin given as a value
  certfleet.tls.hpkp_header:
    active:
      - "{{ lookup('ansible.builtin.file', '/srv/pki/www.example.org/cert.pem') }}"
    backup:
      - "d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM="
    max_age: 2592000
    include_subdomains: true
    report_only: false
  delegate_to: localhost
  run_once: true
  become: false
  register: www_hpkp

- name: Pin the served key with curl, using the same pins
  ansible.builtin.command:
    argv:
      - curl
      - --silent
      - --pinnedpubkey
      - "{{ www_hpkp.pins | map(attribute='sha256') | map('regex_replace', '^', 'sha256//') | join(';') }}"
      - https://www.example.org/
  delegate_to: localhost
  changed_when: false
"""

RETURN = r"""
header_name:
  description: Name of the header, C(Public-Key-Pins-Report-Only) or C(Public-Key-Pins).
  returned: success
  type: str
  sample: Public-Key-Pins-Report-Only
header_value:
  description:
    - Value of the header, active pins first, then backup pins, each once, then C(max-age) and the optional
      C(includeSubDomains) and C(report-uri) directives.
  returned: success
  type: str
  sample: 'pin-sha256="E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g="; pin-sha256="d6qzRu9zOECb90Uez27xWltNsj0e1Md7GkYYkVoZWmM="; max-age=5184000'
pins:
  description:
    - One entry per distinct pin, in header order. An input that repeats a pin adds C(also <input>) to the
      first entry's RV(pins[].source) instead of a new entry.
  returned: success
  type: list
  elements: dict
  contains:
    sha256:
      description: The pin, base64 of the SHA-256 of the DER SubjectPublicKeyInfo.
      type: str
      sample: E9CZ9INDbd+2eRQozYqqbQ2yXLVKB9+xcprMF+44U1g=
    role:
      description: V(active) or V(backup).
      type: str
      sample: active
    source:
      description: Which input gave the pin and what it was (kind, subject, key type, file path), never its content.
      type: str
      sample: 'active[0]: certificate CN=www.example.org, EC P-256 key, file /srv/pki/www.example.org/cert.pem'
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils import _glue

try:
    from ansible_collections.certfleet.tls.plugins.module_utils._tls import pins as tls_pins
except ImportError:
    tls_pins = None


def unmask_public_entries(module):
    """Let the result name file paths and show raw backup pins.

    Both options are no_log because an entry may be a private key, and Ansible masks every no_log value
    wherever it appears in the result: a path in ``source``, or a backup pin in ``header_value``. Paths and
    pins are public, so only they leave the mask; PEM text (and anything unrecognised) stays masked.
    """
    for option in ("active", "backup"):
        for item in module.params[option] or []:
            if tls_pins.input_kind(item, allow_pin=(option == "backup")) in ("path", "pin"):
                module.no_log_values.discard(item)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            active=dict(type="list", elements="str", required=True, no_log=True),
            backup=dict(type="list", elements="str", default=[], no_log=True),
            max_age=dict(type="int", default=5184000),
            include_subdomains=dict(type="bool", default=False),
            report_uri=dict(type="str"),
            report_only=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    _glue.require_libraries(module)
    p = module.params
    unmask_public_entries(module)
    try:
        result = tls_pins.hpkp_result(p["active"], p["backup"], max_age=p["max_age"],
                                      include_subdomains=p["include_subdomains"], report_uri=p["report_uri"],
                                      report_only=p["report_only"])
    except _glue.CertfleetError as error:
        _glue.fail_from(module, error)
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
