#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: tls_decide
short_description: Decide renewal for a whole fleet from what it serves over TLS, with no SSH
version_added: 0.2.0
description:
  - Runs on the control node. Connects to every host's address with each certificate's first domain as SNI, in
    threads, and applies the same renewal rules as M(certfleet.tls.certificate_prepare) to the served leaf.
  - Returns the hosts that need SSH - a certificate due, or a host that could not be probed. The certificate
    role (C(certificate_decide_from=tls)) runs its decide step over SSH only on those hosts, so a scheduled run
    with nothing due opens no SSH connection at all.
  - B(Trade-off.) A pair deployed on disk but never loaded by the server is judged by what is served; the
    host-side checks (webroot exists, config test) run only on hosts that are due. The default,
    C(certificate_decide_from=host), reads the files on every host in every run.
author:
  - certfleet.tls developers (@certfleet)
options:
  targets:
    description:
      - One item per host - C(host), C(address), C(port) (default 443), C(requests) (each with C(name),
        C(domains), C(dir)), and optionally C(error) (the host's requests could not be read; it needs SSH).
    type: list
    elements: dict
    required: true
  renew_at_fraction:
    description: Renew when less than this fraction of the lifetime remains.
    type: float
    default: 0.33
  renew_before_days:
    description: Renew when fewer days remain (overrides O(renew_at_fraction)).
    type: float
  force:
    description: Everything is due.
    type: bool
    default: false
  timeout:
    description: Seconds per TLS connection.
    type: float
    default: 5
  workers:
    description: Parallel connections.
    type: int
    default: 16
extends_documentation_fragment:
  - certfleet.tls.controller_module
"""

EXAMPLES = r"""
- name: Which hosts need SSH today?
  certfleet.tls.tls_decide:
    targets:
      - host: web1
        address: 192.0.2.10
        requests: [{name: www.example.org, domains: [www.example.org], dir: /etc/ssl/certfleet/www}]
  delegate_to: localhost
  run_once: true
  register: decision
"""

RETURN = r"""
hosts:
  description:
    - Per host - C(ssh) (whether its decide step must run over SSH), C(reason), and C(certificates) (name, domains,
      certificate_dir, due, code, reason, current facts of the served leaf, C(decided_from=tls)).
  returned: always
  type: dict
ssh_hosts:
  description: Hosts to decide over SSH.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.certfleet.tls.plugins.module_utils.certificate_specs import TLS_DECIDE_SPEC


def main():
    # The work is done by the action plugin of the same name, inside Ansible's worker on the control node (no module
    # process to start: the whole decision is one controller task); this file documents it.
    module = AnsibleModule(argument_spec=TLS_DECIDE_SPEC, supports_check_mode=True)
    module.fail_json(msg="certfleet.tls.tls_decide runs on the control node as an action plugin; it cannot run as a "
                         "module on its own")


if __name__ == "__main__":
    main()
