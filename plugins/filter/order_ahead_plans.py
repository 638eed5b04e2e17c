# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: order_ahead_plans
short_description: The certificates to order before the decide step, from what the fleet serves over TLS
version_added: 0.3.0
description:
  - The certificates that are due over TLS and whose decide step can write the order's challenge files in the same
    host exec as the key it stages ahead (C(certificate_order_ahead)) - HTTP-01 with a webroot, a key of the host
    alone made in every run (C(rotate_each_issue), C(ec256) or C(ec384)), one backend in the play, not in an
    incomplete backend group. Capped like the run's orders, in the same stable order.
extends_documentation_fragment:
  - certfleet.tls.play_hosts
options:
  forecast:
    description: The result of M(certfleet.tls.tls_decide) for the play.
    type: dict
    required: true
  backends:
    description: The role's backend facts - C(counts) (certificate name to number of hosts) and C(incomplete).
    type: dict
  key_type:
    description: The key type of a request and host that set none.
    type: str
    default: ec256
  key_policy:
    description: The key policy of a request and host that set none.
    type: str
    default: rotate_each_issue
  max_orders:
    description: C(certificate_max_orders_per_run); 0 for no cap.
    type: int
    default: 0
notes:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    ahead: "{{ ansible_play_batch | certfleet.tls.order_ahead_plans(hostvars, forecast, backends) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: One item per certificate to order ahead - name, domains, challenge_type, profile, host.
  type: list
  elements: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

order_ahead_plans = as_filter(results.order_ahead_plans)


class FilterModule:
    def filters(self):
        return {"order_ahead_plans": order_ahead_plans}
