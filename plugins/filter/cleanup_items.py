# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: cleanup_items
short_description: Every challenge and probe file a host may hold for the run
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
  only_names:
    description: Only the files of these certificates.
    type: list
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    tokens: "{{ first_step.orders | certfleet.tls.cleanup_items(plan) }}"
"""

RETURN = r"""
_value:
  description: Items with C(token) and C(webroot), for M(certfleet.tls.acme_challenge_file) with O(certfleet.tls.acme_challenge_file#module:state=absent).
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

cleanup_items = as_filter(results.cleanup_items)


class FilterModule:
    def filters(self):
        return {"cleanup_items": cleanup_items}
