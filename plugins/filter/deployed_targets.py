# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: deployed_targets
short_description: Verification targets of the certificates deployed in this run
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
extends_documentation_fragment:
  - certfleet.tls.play_hosts
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    counts: "{{ ansible_play_hosts | certfleet.tls.deployed_targets(hostvars) }}"
"""

RETURN = r"""
_value:
  description: One M(certfleet.tls.tls_verify) target per certificate that went live (name, certificate, address, server_name, port).
  type: list
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

deployed_targets = as_filter(results.deployed_targets)


class FilterModule:
    def filters(self):
        return {"deployed_targets": deployed_targets}
