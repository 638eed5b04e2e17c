# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: unused_ahead_orders
short_description: The orders placed ahead that no decide step confirmed, to abandon
version_added: 0.3.0
description:
  - The orders placed ahead whose certificate is not among the run's candidates - found not due on the host, failed
    (a preflight, an input), its host dropped out, or deferred by C(certificate_max_orders_per_run). The role
    abandons them (M(certfleet.tls.acme_order) O(certfleet.tls.acme_order#module:abandon)) - no challenge is answered.
options:
  _input:
    description: The C(orders) of the M(certfleet.tls.acme_order) step that placed orders ahead.
    type: list
    elements: dict
    required: true
  candidates:
    description: The due certificates of the play that the run orders (the role's C(__certificate_candidates)).
    type: list
    elements: dict
    required: true
notes:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    to_abandon: "{{ ahead_order.orders | certfleet.tls.unused_ahead_orders(candidates) }}"
"""

RETURN = r"""
_value:
  description: The orders to abandon.
  type: list
  elements: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

unused_ahead_orders = as_filter(results.unused_ahead_orders)


class FilterModule:
    def filters(self):
        return {"unused_ahead_orders": unused_ahead_orders}
