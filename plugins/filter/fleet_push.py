# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_push
short_description: Every host's challenge push, computed once for the play
version_added: 0.3.0
description:
  - What each host's challenge push writes and removes.
extends_documentation_fragment:
  - certfleet.tls.play_hosts
  - certfleet.tls.fleet_step
options:
  deferred:
    description: Names of the certificates that C(certificate_max_orders_per_run) deferred; their preflight probes are removed.
    type: list
    elements: str
  abandoned:
    description: Orders placed ahead and abandoned; the challenge files of the deferred ones are removed too.
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    push: "{{ ansible_play_batch | certfleet.tls.fleet_push(hostvars, first_step.orders, deferred_names) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description:
    - "C({host: {challenges, order_records, remove_challenges}}): the M(certfleet.tls.acme_challenge_file) input"
    - of each host with something to write or remove.
    - Hosts with nothing to push are left out.
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

fleet_push = as_filter(results.fleet_push)


class FilterModule:
    def filters(self):
        return {"fleet_push": fleet_push}
