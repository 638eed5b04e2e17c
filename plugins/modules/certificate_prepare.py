#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: certificate_prepare
short_description: Decide from what a host has deployed whether it needs a certificate, stage its next key, preflight
version_added: 0.1.0
description:
  - One task per host for the first step of the runbook. The action plugin runs on the control node and
    calls this module on the managed host once to read the deployed certificate (and, when a
    certificate is due, once more to stage the key and a preflight probe file).
  - B(Decide.) The renewal decision is made from the certificate the host has deployed
    (C(<certificate_dir>/live/fullchain.pem)), not from files kept on the control node, so it works from
    fresh AWX execution environments. A certificate is due when none is deployed, when its names differ
    from O(domains), or when its remaining lifetime is below O(renew_at_fraction) of its whole lifetime
    (or below O(renew_before_days) when set).
  - B(Prepare the key.) When due, a new private key and CSR are made on the control node with
    C(cryptography) and staged on the host in C(<certificate_dir>/next/) (key mode C(0600)). A key already
    staged there for the same names is reused, so a failed run does not throw keys away and a key whose
    pin was published in advance is the one that gets certified.
  - B(Preflight.) When due and O(preflight=true), a probe file is written through the challenge path and
    fetched from the control node as C(http://<domain>/.well-known/acme-challenge/<probe>) against the
    host's address, for every domain, before any CA is contacted. A broken path (for example an
    C(.htaccess) rule that answers 404 for dotted paths) stops here with the URL, status and body, and
    does not burn the CA's failed-validation rate limit.
  - With nothing due, nothing is written and the CA is never contacted.
author:
  - certfleet.tls developers (@certfleet)
options:
  domains:
    description: DNS names the certificate must carry. The first one is the certificate's name by default.
    type: list
    elements: str
    required: true
  name:
    description:
      - Name of the certificate. Hosts with the same name share one order and one certificate, so a name must
        always go with the same O(domains). Defaults to the domains joined by commas.
    type: str
  certificate_dir:
    description: Directory with C(live), C(releases/) and C(next/) on the managed host.
    type: path
    required: true
  webroot:
    description: Directory the web server serves C(/.well-known/acme-challenge/) from (needed for preflight).
    type: path
  key_type:
    description: Type of a newly made private key.
    type: str
    choices: [ec256, ec384, rsa2048, rsa3072, rsa4096]
    default: ec256
  renew_at_fraction:
    description: Renew when less than this fraction of the certificate's lifetime remains.
    type: float
    default: 0.33
  renew_before_days:
    description: Renew when fewer days than this remain (overrides O(renew_at_fraction)).
    type: float
  force:
    description: Treat the certificate as due whatever its state.
    type: bool
    default: false
  preflight:
    description: Probe the challenge path over HTTP from the control node before ordering.
    type: bool
    default: true
  preflight_address:
    description: Address to connect to for the probe. Defaults to C(ansible_host).
    type: str
  preflight_port:
    description: HTTP port of the probe.
    type: int
    default: 80
  preflight_timeout:
    description: Seconds to wait for each probe answer.
    type: float
    default: 5
  verify_port:
    description: HTTPS port that the later verification over TLS connects to (returned in C(verify_target)).
    type: int
    default: 443
  backends:
    description:
      - Number of hosts in the play that serve the same certificate (multi-backend). They get one key and
        one certificate; the challenge files go to every one of them before the CA validates.
    type: int
    default: 1
  ari:
    description:
      - Ask the CA's ACME Renewal Information (RFC 9773) for the deployed certificate and renew inside the
        window it suggests; the order then says which certificate it C(replaces). Costs two unauthenticated
        GET requests per host and run (directory, renewalInfo), which is why it is off by default.
      - Falls back to O(renew_at_fraction) when the CA offers no ARI.
    type: bool
    default: false
  acme_directory:
    description: ACME directory URL or alias, for O(ari).
    type: str
  acme_ca_bundle:
    description: CA bundle for the ACME server's HTTPS, for O(ari).
    type: path
  stage_privkey:
    description: Internal, set by the action plugin. Private key to stage. Never logged.
    type: str
  stage_csr:
    description: Internal, set by the action plugin. CSR to stage beside the key.
    type: str
  probe_token:
    description: Internal, set by the action plugin. Name of the probe file.
    type: str
  probe_content:
    description: Internal, set by the action plugin. Content of the probe file.
    type: str
  probe_state:
    description: Internal, set by the action plugin. V(absent) removes the probe after a failed preflight.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - certfleet.tls.host_module
"""

EXAMPLES = r"""
- name: Decide, stage the next key, preflight the challenge path
  certfleet.tls.certificate_prepare:
    domains: [www.example.org, example.org]
    certificate_dir: /etc/ssl/certfleet/www.example.org
    webroot: /var/www/html
  register: plan
"""

RETURN = r"""
due:
  description: Whether the host needs a new certificate.
  returned: always
  type: bool
reason:
  description: Why (or why not), in words.
  returned: always
  type: str
  sample: 12.3 days left of 90.0, below renew_at_fraction=0.33
name:
  description: Certificate name.
  returned: always
  type: str
domains:
  description: Normalized domains.
  returned: always
  type: list
  elements: str
csr:
  description: CSR (PEM) of the staged key, to order with.
  returned: when due
  type: str
key_reused:
  description: Whether an already staged key was reused.
  returned: when due
  type: bool
probe_token:
  description: Name of the preflight probe file left in the challenge directory (removed on deploy).
  returned: when due and preflight ran
  type: str
current:
  description: Facts of the deployed certificate (serial, issuer, not_after, domains, spki_sha256).
  returned: when a certificate is deployed
  type: dict
verify_target:
  description: Where and what the verification over TLS checks (name, certificate, address, server_name, port).
  returned: when due
  type: dict
address:
  description: Address of the host used for the probe and the verification.
  returned: when due
  type: str
remaining_seconds:
  description: Seconds until the deployed certificate expires (0 when none).
  returned: always
  type: int
live_cert:
  description: Internal (module side). PEM of the deployed leaf certificate.
  returned: when a certificate is deployed
  type: str
ari:
  description: The CA's renewal window for the deployed certificate (cert_id, window_start, window_end).
  returned: when O(ari=true) and the CA offers ARI
  type: dict
replaces:
  description: ARI identifier of the deployed certificate, sent as C(replaces) with the new order.
  returned: when due and O(ari=true) and the CA offers ARI
  type: str
pending_order_url:
  description: Internal (module side). Order recorded by a run that did not finish.
  returned: when a record exists
  type: str
resume_order_url:
  description: Order of an earlier, unfinished run that the order step will try to resume.
  returned: when due, a key is reused and a record exists
  type: str
staged_csr:
  description: Internal (module side). PEM of the staged CSR.
  returned: when a key is staged
  type: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils.host_files import (
    CHALLENGE_SUBDIR, atomic_write, challenge_path, ensure_dir, read_bytes, token_error)


ARGUMENT_SPEC = dict(
    domains=dict(type="list", elements="str", required=True),
    name=dict(type="str"),
    certificate_dir=dict(type="path", required=True),
    webroot=dict(type="path"),
    key_type=dict(type="str", default="ec256", choices=["ec256", "ec384", "rsa2048", "rsa3072", "rsa4096"]),
    renew_at_fraction=dict(type="float", default=0.33),
    renew_before_days=dict(type="float"),
    force=dict(type="bool", default=False),
    preflight=dict(type="bool", default=True),
    preflight_address=dict(type="str"),
    preflight_port=dict(type="int", default=80),
    preflight_timeout=dict(type="float", default=5),
    verify_port=dict(type="int", default=443),
    backends=dict(type="int", default=1),
    ari=dict(type="bool", default=False),
    acme_directory=dict(type="str"),
    acme_ca_bundle=dict(type="path"),
    stage_privkey=dict(type="str", no_log=True),
    stage_csr=dict(type="str"),
    probe_token=dict(type="str", no_log=False),
    probe_content=dict(type="str"),
    probe_state=dict(type="str", default="present", choices=["present", "absent"]),
)
# Set by the action plugin only, never by a playbook.
INTERNAL_OPTIONS = ("stage_privkey", "stage_csr", "probe_token", "probe_content", "probe_state")


def first_pem_certificate(data):
    if not data:
        return None
    text = data.decode("ascii", "replace")
    end = text.find("-----END CERTIFICATE-----")
    start = text.find("-----BEGIN CERTIFICATE-----")
    if start < 0 or end < 0:
        return None
    return text[start:end + len("-----END CERTIFICATE-----")] + "\n"


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    p = module.params
    cdir = p["certificate_dir"]
    result = dict(changed=False)
    live_cert = first_pem_certificate(read_bytes(os.path.join(cdir, "live", "fullchain.pem")))
    if live_cert:
        result["live_cert"] = live_cert
    staged_csr = read_bytes(os.path.join(cdir, "next", "request.csr"))
    record = read_bytes(os.path.join(cdir, "next", "order.json"))
    if record:
        try:
            result["pending_order_url"] = json.loads(record.decode("utf-8")).get("order_url")
        except ValueError:
            pass  # a torn record is worth nothing: the next order starts afresh
    if p["stage_privkey"]:
        # Stage the next key: directory 0700, key 0600, written before the CSR so a CSR never
        # points at a missing key.
        had_key = os.path.exists(os.path.join(cdir, "next", "privkey.pem"))
        if not module.check_mode:
            ensure_dir(os.path.join(cdir, "next"), 0o700)
            os.chmod(os.path.join(cdir, "next"), 0o700)  # also when an older run left it wider
            atomic_write(os.path.join(cdir, "next", "privkey.pem"), p["stage_privkey"], 0o600)
            atomic_write(os.path.join(cdir, "next", "request.csr"), p["stage_csr"] or "", 0o644)
            if os.path.exists(os.path.join(cdir, "next", "order.json")):
                os.unlink(os.path.join(cdir, "next", "order.json"))  # belonged to the previous key
        result["changed"] = True
        if module._diff:  # the key itself never goes into a diff
            result["diff"] = {"before": "next/privkey.pem: %s\n" % ("a previous key" if had_key else "absent"),
                              "after": "next/privkey.pem: a new key (content not shown), next/request.csr\n"}
        staged_csr = (p["stage_csr"] or "").encode()
    if staged_csr and os.path.exists(os.path.join(cdir, "next", "privkey.pem")) or p["stage_privkey"]:
        result["staged_csr"] = staged_csr.decode("ascii", "replace") if staged_csr else None
    if p["probe_token"]:
        problem = token_error(p["probe_token"])
        if problem:
            module.fail_json(msg="probe_token: %s" % problem)
        if not p["webroot"] or not os.path.isdir(p["webroot"]):
            module.fail_json(msg="webroot %s does not exist: the preflight probe cannot be written" % p["webroot"])
        if p["probe_state"] == "absent":
            path = challenge_path(p["webroot"], p["probe_token"])
            if os.path.lexists(path) and not module.check_mode:
                os.unlink(path)
            module.exit_json(changed=True)
        if not module.check_mode:
            ensure_dir(os.path.join(p["webroot"], CHALLENGE_SUBDIR), 0o755)
            atomic_write(challenge_path(p["webroot"], p["probe_token"]), p["probe_content"] or "", 0o644)
        result["changed"] = True
    module.exit_json(**result)


if __name__ == "__main__":
    main()
