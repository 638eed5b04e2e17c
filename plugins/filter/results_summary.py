# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: results_summary
short_description: One line per certificate of each host, from certificate_results
version_added: 0.2.0
description:
  - Reads each host's C(certificate_results) (set by the certificate role on every path) and says, per
    certificate, the serial and expiry the host now holds and what this run did - renewed and verified over TLS,
    not due and why, or failed and why. A host without results is listed too.
options:
  _input:
    description: Host names (use C(ansible_play_hosts_all) so that failed hosts are listed).
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Report every host of the play
  ansible.builtin.debug:
    msg: "{{ ansible_play_hosts_all | certfleet.tls.results_summary(hostvars) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The lines.
  type: list
  elements: str
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils.results import results_summary


class FilterModule:
    def filters(self):
        return {"results_summary": results_summary}
