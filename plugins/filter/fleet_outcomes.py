# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: fleet_outcomes
short_description: What every host holds and serves after the run, and what failed, computed once for the play
version_added: 0.3.0
description:
  - What each host holds and serves after the run (its C(certificate_results)), and its certificates that did not go live.
extends_documentation_fragment:
  - certfleet.tls.play_hosts
  - certfleet.tls.fleet_step
options:
  issued:
    description: The finalize step's C(orders); a certificate that went live is reported with the serial and dates it got.
    type: list
    elements: dict
  verified:
    description: The C(results) of M(certfleet.tls.tls_verify).
    type: list
    elements: dict
  deferred:
    description: Names of the certificates that C(certificate_max_orders_per_run) deferred.
    type: list
    elements: str
  excluded:
    description: "C({name: message}) of the certificates that CAA or the dns-01 preflight ruled out."
    type: dict
  decision:
    description: The M(certfleet.tls.tls_decide) result, for the hosts decided over TLS without SSH.
    type: dict
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    outcomes: "{{ ansible_play_batch | certfleet.tls.fleet_outcomes(hostvars, orders=first.orders, issued=second.orders) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description:
    - "C({host: {results, failures}}): the host's new C(certificate_results) (earlier entries merged)"
    - and the messages of its certificates that did not go live.
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

fleet_outcomes = as_filter(results.fleet_outcomes)


class FilterModule:
    def filters(self):
        return {"fleet_outcomes": fleet_outcomes}
