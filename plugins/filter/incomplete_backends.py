# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: incomplete_backends
short_description: Certificates whose backend group is not wholly in this run
version_added: 0.2.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
  - The backends of a certificate are the hosts of its group (C(certificate_backend_group), or C(backend_group) in a
    C(certificate_requests) item) in this run's inventory, plus the hosts listed in C(certificate_backend_hosts)
    (C(backend_hosts) in an item). The list is what survives AWX job slicing, which gives each slice an inventory
    whose groups hold only that slice's hosts.
options:
  groups:
    description: The C(groups) magic variable.
    type: dict
  play_hosts_all:
    description: Every host of this run (C(ansible_play_hosts_all)).
    type: list
extends_documentation_fragment:
  - certfleet.tls.play_hosts
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    missing: "{{ ansible_play_hosts | certfleet.tls.incomplete_backends(hostvars, groups, ansible_play_hosts_all) }}"
"""

RETURN = r"""
_value:
  description: Certificate name to a message naming the group, the hosts of the run and the missing ones.
  type: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

incomplete_backends = as_filter(results.incomplete_backends)


class FilterModule:
    def filters(self):
        return {"incomplete_backends": incomplete_backends}
