#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: placeholder_certificate
short_description: Make a self-signed placeholder certificate and key for a site that has no certificate yet
version_added: 0.2.0
description:
  - Runs on the control node. Makes a new private key and a self-signed certificate for O(domains) with
    C(cryptography), and returns both as PEM text. It writes no file and contacts nobody.
  - The web roles C(certfleet.tls.nginx) and C(certfleet.tls.apache) install the pair as
    C(<dir>/placeholder/fullchain.pem) and C(<dir>/placeholder/privkey.pem) (mode C(0600)) and point
    C(<dir>/live) at it, so that a new site's TLS config can be tested and loaded before its first
    certificate exists.
  - The certificate role treats a self-signed certificate as due (decision code C(self_signed)) and replaces
    it in the same run. No client trusts a placeholder.
  - The result holds a private key. Run the task with C(no_log=true), as the web roles do, so that the key
    never reaches the output, a callback or an AWX job event.
author:
  - certfleet.tls developers (@certfleet)
options:
  domains:
    description:
      - DNS names of the site. The first is the subject common name (when it fits in 64 characters); all
        go into the subjectAltName. They are normalized (lower case, IDNA) like the certificate role does.
    type: list
    elements: str
    required: true
  key_type:
    description: Type of the placeholder's key.
    type: str
    choices: [ec256, ec384, rsa2048, rsa3072, rsa4096]
    default: ec256
  valid_days:
    description: Days the placeholder is valid, from one hour before now. Must be 1 or more.
    type: int
    default: 30
extends_documentation_fragment:
  - certfleet.tls.controller_module
attributes:
  check_mode:
    support: full
    description: The module changes nothing anywhere; check mode returns a new pair as well.
requirements:
  - cryptography on the control node
notes:
  - Always reports C(changed=false), because it only computes; the tasks that install the pair report the change.
"""

EXAMPLES = r"""
- name: Make a placeholder pair on the control node (the key stays out of the output)
  certfleet.tls.placeholder_certificate:
    domains: [www.example.org, example.org]
  delegate_to: localhost
  become: false
  register: www_placeholder
  no_log: true

- name: Install its key (mode 0600) on the host
  ansible.builtin.copy:
    content: "{{ www_placeholder.private_key }}"
    dest: /etc/ssl/certfleet/www.example.org/placeholder/privkey.pem
    mode: "0600"
  no_log: true
"""

RETURN = r"""
certificate:
  description: The self-signed certificate, PEM (also the whole C(fullchain.pem) of a placeholder).
  returned: success
  type: str
  sample: "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"
private_key:
  description: Its private key, unencrypted PKCS#8 PEM. Register it only in a C(no_log) task.
  returned: success
  type: str
  sample: "(a PEM private key)"
domains:
  description: The normalized names the certificate carries.
  returned: success
  type: list
  elements: str
  sample: [www.example.org, example.org]
not_after:
  description: End of validity, UTC, ISO 8601.
  returned: success
  type: str
  sample: "2026-12-30T12:00:00Z"
"""

import datetime
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils import _glue

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    from ansible_collections.certfleet.tls.plugins.module_utils._tls import keys
    IMPORT_ERROR = None
except ImportError:
    IMPORT_ERROR = traceback.format_exc()


def placeholder_pair(domains, key_type="ec256", valid_days=30, now=None):
    """A self-signed end-entity certificate for ``domains`` and its key: (certificate PEM, key PEM, facts)."""
    if valid_days < 1:
        raise _glue.InputError("valid_days is %d; a placeholder must be valid for at least 1 day" % valid_days)
    names = keys.normalize_domains(domains, "dns-01")  # wildcards allowed: the placeholder proves nothing
    key = keys.generate_private_key(key_type)
    now = now or datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])] if len(names[0]) <= 64 else [])
    not_after = now + datetime.timedelta(days=valid_days)
    cert = (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    facts = {"domains": names, "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return cert.public_bytes(serialization.Encoding.PEM).decode(), keys.private_key_to_pem(key).decode(), facts


def main():
    module = AnsibleModule(
        argument_spec=dict(
            domains=dict(type="list", elements="str", required=True),
            key_type=dict(type="str", default="ec256", choices=list(keys.KEY_TYPES) if IMPORT_ERROR is None
                          else ["ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"]),
            valid_days=dict(type="int", default=30),
        ),
        supports_check_mode=True,
    )

    def work(call):
        params = call.params
        certificate, private_key, facts = placeholder_pair(params["domains"], params["key_type"],
                                                           params["valid_days"])
        return dict(changed=False, certificate=certificate, private_key=private_key, **facts)

    _glue.run_module(module, work, acme_requests=False, requires_acme=False, import_error=IMPORT_ERROR)


if __name__ == "__main__":
    main()
