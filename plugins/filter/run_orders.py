# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: run_orders
short_description: The run's orders, one per due certificate, placed ahead or after the decide step
version_added: 0.3.0
description:
  - For each due certificate, its order placed ahead (given the CSR of the host's plan, since the order was placed
    before the key existed), else its order placed after the decide step.
options:
  _input:
    description: The due certificates of the play, once per name (the role's C(__certificate_due_plans)).
    type: list
    elements: dict
    required: true
  ahead:
    description: The C(orders) of the M(certfleet.tls.acme_order) step that placed orders ahead.
    type: list
    elements: dict
  late:
    description: The C(orders) of the M(certfleet.tls.acme_order) step after the decide step (failures included).
    type: list
    elements: dict
notes:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    orders: "{{ due_plans | certfleet.tls.run_orders(ahead_order.orders, late_order.orders) }}"
"""

RETURN = r"""
_value:
  description: The orders to push, finalize and deploy; an order placed ahead has C(ahead=true).
  type: list
  elements: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

run_orders = as_filter(results.run_orders)


class FilterModule:
    def filters(self):
        return {"run_orders": run_orders}
