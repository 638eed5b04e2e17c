# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: push_items
short_description: What the challenge push writes on a host
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
options:
  _input:
    description: The C(orders) of the first M(certfleet.tls.acme_order) step.
    type: raw
    required: true
  host_plan:
    description: The host's C(certificate_prepare) result.
    type: dict
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    push: "{{ first_step.orders | certfleet.tls.push_items(plan) }}"
"""

RETURN = r"""
_value:
  description: C(challenges) (each with its certificate's C(webroot)) and C(order_records) (C(path), C(order_url)) for M(certfleet.tls.acme_challenge_file).
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

push_items = as_filter(results.push_items)


class FilterModule:
    def filters(self):
        return {"push_items": push_items}
