# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: backend_counts
short_description: How many hosts of the run request each certificate
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
extends_documentation_fragment:
  - certfleet.tls.play_hosts
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    counts: "{{ ansible_play_hosts | certfleet.tls.backend_counts(hostvars) }}"
"""

RETURN = r"""
_value:
  description:
    - Certificate name to number of hosts (multi-backend - those hosts share one key and one order).
    - Fails when one name is requested with different domains on two hosts.
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

backend_counts = as_filter(results.backend_counts)


class FilterModule:
    def filters(self):
        return {"backend_counts": backend_counts}
