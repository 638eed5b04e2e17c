# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: stapled_names
short_description: Names of the play's certificates whose site staples OCSP
version_added: 0.3.0
description:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
  - The certificate role fetches the OCSP staple of each new certificate named here once for the play, right after
    issuance, so that the renewal goes live stapled.
extends_documentation_fragment:
  - certfleet.tls.play_hosts
"""

EXAMPLES = r"""
- name: Use it
  ansible.builtin.set_fact:
    names: "{{ ansible_play_hosts | certfleet.tls.stapled_names(hostvars) }}"
"""

RETURN = r"""
_value:
  description: >-
    Certificate names, each once, whose request item (C(certificate_requests)) sets C(ocsp_stapling) to true on
    one of the hosts; a host whose requests cannot be read is left out.
  type: list
  elements: str
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

stapled_names = as_filter(results.stapled_names)


class FilterModule:
    def filters(self):
        return {"stapled_names": stapled_names}
