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
  - One task per host for the first step of the runbook, in named steps - check the request, read the host,
    decide, choose the key, stage, preflight. It runs on the control node (an action plugin) and calls
    M(certfleet.tls.certificate_state) on the managed host once to read what it holds (and, when a
    certificate is due, once more to stage the key and a preflight probe file).
  - B(Check.) In every run, due or not, and before the host or the CA is contacted - C(certificate_dir) and
    C(webroot) must be absolute, every domain must be a DNS name (not an IP address), the directory alias must
    be known. On the host, the webroot must exist and the web server's config test (O(test_command)) must
    pass.
  - B(Decide.) The renewal decision is made from the certificate the host has deployed
    (C(<certificate_dir>/live/fullchain.pem)), not from files kept on the control node, so it works from
    fresh AWX execution environments. A certificate is due when none is deployed, when its names differ
    from O(domains), or when its remaining lifetime is below O(renew_at_fraction) of its whole lifetime
    (or below O(renew_before_days) when set). A deploy that never confirmed its reload makes it due too.
  - The lifetime rule is a floor - ARI (O(ari)) can bring renewal forward, never push it back.
  - B(Prepare the key.) When due, a new private key and CSR are made on the control node with
    C(cryptography) and staged on the host in C(<certificate_dir>/next/) (key mode C(0600)), under the
    certificate's lock on the host. A key already staged there for the same names is reused, so a failed run
    does not throw keys away; a staged key that is already the live key (a deploy killed before its cleanup)
    is discarded, also when nothing is due.
  - B(Preflight.) When due and O(preflight=true), a probe file is written through the challenge path and
    fetched from the control node as C(http://<domain>/.well-known/acme-challenge/<probe>) against the
    host's address, for every domain, before any CA is contacted. A broken path (for example an
    C(.htaccess) rule that answers 404 for dotted paths) stops here with the URL, status and body, and
    does not burn the CA's failed-validation rate limit.
  - With nothing due, nothing is written and the CA is never contacted.
author:
  - certfleet.tls developers (@certfleet)
options:
  requests:
    description:
      - Every certificate of the host, one item each, as the C(certfleet.tls.certificate_requests) filter
        normalizes them - C(name), C(domains), C(dir), C(webroot), C(key_type), C(profile), C(challenge).
      - One host exec reads them all; the result lists them in RV(certificates).
      - Without it, the single form O(domains) + O(certificate_dir) (+ O(webroot), O(name)) is one request, and
        its plan's fields are also returned at the top level.
    type: list
    elements: dict
  domains:
    description: Single form - DNS names the certificate must carry.
    type: list
    elements: str
  name:
    description:
      - Name of the certificate. Hosts with the same name share one order and one certificate, so a name must
        always go with the same O(domains). Defaults to the domains joined by commas.
    type: str
  certificate_dir:
    description: Single form - directory with C(live), C(releases/) and C(next/) on the managed host.
    type: path
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
      - How many hosts of the play serve each certificate (multi-backend) - a dict of certificate name to count
        (the role passes C(certfleet.tls.backend_counts)), or one count for the single form. Such hosts get one
        key and one certificate; the challenge files go to every one of them before the CA validates.
    type: raw
    default: 1
  key_policy:
    description:
      - Default key policy of the requests (a request's C(key_policy) wins). V(rotate_each_issue) - a new key for
        every certificate. V(reuse) - the key store's active key, kept across renewals (a DANE 3 1 1 record stays
        valid). V(pinned) - an active and a backup key in the store; the backup never leaves the control node,
        only its pin is published; keys change only by C(certfleet.tls.rotate).
    type: str
    choices: [rotate_each_issue, reuse, pinned]
    default: rotate_each_issue
  key_store:
    description:
      - Key store directory on the control node for V(reuse) and V(pinned) (mode 0700, files 0600; see
        C(certfleet.tls.key_store)). Default C(~/.local/share/certfleet/keys). In AWX, a persistent volume - or
        O(key_contents).
    type: path
  key_contents:
    description:
      - Content mode (AWX without a persistent volume) - certificate name to C(active), C(backup) (PEM keys from a
        vault or credential) and C(backup_published) (when the backup's pin was first published). Never logged.
    type: dict
    default: {}
  ahead_orders:
    description:
      - Orders placed before this task for this host's certificates (the C(orders) of M(certfleet.tls.acme_order)
        given domains and no CSR; the certificate role does this with C(certificate_order_ahead)). For a certificate
        whose key the read stages ahead, the order's HTTP-01 challenge files and its order record are written in the
        same host exec, and the entry says C(ahead_order_url); the preflight then fetches the probe written beside
        them. A certificate found not due, or whose preflight fails, has those files removed, and the role abandons
        the order (no challenge is answered).
    type: list
    elements: dict
    default: []
  dns_configured:
    description:
      - Whether the DNS server and TSIG key for dns-01 are set (the role passes it); a dns-01 request without them
        fails in every run, before anything is staged or ordered.
    type: bool
    default: true
  incomplete_backends:
    description:
      - Certificate name to message, for certificates whose backend group is not wholly in this run (the role
        passes C(certfleet.tls.incomplete_backends)). Those certificates fail with the message before anything
        is staged or ordered; the others go on.
    type: dict
    default: {}
  ari:
    description:
      - Ask the CA's ACME Renewal Information (RFC 9773) for the deployed certificate and renew inside the
        window it suggests; the order then says which certificate it C(replaces). Costs two unauthenticated
        GET requests per host and run (directory, renewalInfo), which is why it is off by default.
      - Falls back to O(renew_at_fraction) when the CA offers no ARI.
    type: bool
    default: false
  acme_directory:
    description:
      - ACME directory URL or alias. Checked in every run (an unknown alias fails before anything else), and
        used by O(ari).
    type: str
    default: letsencrypt_staging
  acme_ca_bundle:
    description: CA bundle for the ACME server's HTTPS, for O(ari).
    type: path
  test_command:
    description:
      - The web server's config test (argv), run on the host in every run before anything is ordered. A host
        whose config already fails is reported by name and gets no order.
    type: list
    elements: str
  lock_timeout:
    description: Seconds to wait for another run's lock on this certificate (on the host) before failing.
    type: float
    default: 120
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
certificates:
  description:
    - One plan per certificate, in request order, with the fields below (C(due), C(code), C(reason), C(name),
      C(domains), C(certificate_dir), C(csr), C(key_choice), C(current), C(verify_target) ...), plus C(failed) and
      C(msg) for a certificate whose preflight failed (the others go on), and C(ahead_order_url) for a due
      certificate whose order was placed ahead and whose challenge files this task wrote (O(ahead_orders)).
  returned: always
  type: list
  elements: dict
unmanaged:
  description:
    - Certificate directories beside the requested ones that no request names any more (a certificate removed
      from the list). Their files are left in place; the role reports them in C(certificate_results).
  returned: always
  type: list
  elements: str
due_names:
  description: Names of the certificates due and ready to order.
  returned: always
  type: list
  elements: str
failed_names:
  description: Names of the certificates whose preflight failed.
  returned: always
  type: list
  elements: str
due:
  description: Whether some certificate must be issued now (single form - this certificate).
  returned: always
  type: bool
code:
  description:
    - Why, as a stable code - V(missing), V(interrupted_deploy), V(names_changed), V(self_signed), V(expired),
      V(lifetime_days), V(lifetime_fraction), V(ari_window), V(forced) when due; V(valid) when not.
  returned: always
  type: str
reason:
  description: Why (or why not), in words.
  returned: always
  type: str
  sample: 12.3 days left, due since 2026-11-20T10:00:00Z by renew_at_fraction=0.33 of 90.0 days
renew_at:
  description: When the lifetime rule makes the deployed certificate due.
  returned: when a certificate from a CA is deployed
  type: str
name:
  description: Certificate name.
  returned: always
  type: str
domains:
  description: Normalized domains.
  returned: always
  type: list
  elements: str
certificate_dir:
  description: Directory of the certificate on the host.
  returned: always
  type: str
csr:
  description: CSR (PEM) of the staged key, to order with.
  returned: when due
  type: str
key_reused:
  description: Whether an already staged key was reused.
  returned: when due
  type: bool
key_choice:
  description:
    - Which key - V(new), V(staged_current), V(staged_stale), V(staged_other_names), V(shared), or for the key store
      V(store_active) / V(store_staged).
  returned: always
  type: str
key_reason:
  description: The key choice in words.
  returned: always
  type: str
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
  returned: always
  type: dict
address:
  description: Address of the host used for the probe and the verification.
  returned: always
  type: str
remaining_seconds:
  description: Seconds until the deployed certificate expires (0 when none).
  returned: always
  type: int
pins:
  description: pin-sha256 of the store's active and backup keys (policies reuse and pinned).
  returned: when the key store holds keys for the certificate
  type: dict
tlsa:
  description: TLSA 3 1 1 data of the active and backup keys per name (C(_443._tcp.<name>)), as structured records.
  returned: when the key store holds keys for the certificate
  type: list
  elements: dict
ari:
  description: The CA's renewal window for the deployed certificate (cert_id, window_start, window_end).
  returned: when O(ari=true) and the CA offers ARI
  type: dict
ari_note:
  description: Why ARI was not used (the CA offers none, or it could not be reached).
  returned: when O(ari=true) and ARI was not used
  type: str
replaces:
  description: ARI identifier of the deployed certificate, sent as C(replaces) with the new order.
  returned: when due and O(ari=true) and the CA offers ARI
  type: str
resume_order_url:
  description: Order of an earlier, unfinished run that the order step will try to resume.
  returned: when due, a key is reused and a record exists
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils.certificate_specs import CERTIFICATE_PREPARE_SPEC


def main():
    # The work is done by the action plugin of the same name on the control node; this file documents it.
    module = AnsibleModule(argument_spec=CERTIFICATE_PREPARE_SPEC, supports_check_mode=True)
    module.fail_json(msg="certfleet.tls.certificate_prepare runs on the control node as an action plugin; "
                         "it cannot run as a module on its own")


if __name__ == "__main__":
    main()
