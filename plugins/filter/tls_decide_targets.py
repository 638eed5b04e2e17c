# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: tls_decide_targets
short_description: Targets of tls_decide from the inventory
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
options:
  port:
    description: HTTPS port when a host sets no C(certificate_verify_port).
    type: int
extends_documentation_fragment:
  - certfleet.tls.play_hosts
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    targets: "{{ ansible_play_hosts | certfleet.tls.tls_decide_targets(hostvars) }}"
"""

RETURN = r"""
_value:
  description: One target per host - host, address, port, requests (name, domains, dir), and error when its requests cannot be read.
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

tls_decide_targets = as_filter(results.tls_decide_targets)


class FilterModule:
    def filters(self):
        return {"tls_decide_targets": tls_decide_targets}
