# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: merge_certificate_results
short_description: Merge certificate_results entries by certificate name
version_added: 0.2.0
description:
  - Entries of O(new) replace those of the input with the same C(name); the others are kept, in order. The
    certificate role uses it so that running the role for a second certificate adds to C(certificate_results).
options:
  _input:
    description: The existing entries.
    type: list
    elements: dict
    required: true
  new:
    description: The new entries.
    type: list
    elements: dict
    required: true
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Add this run's entries
  ansible.builtin.set_fact:
    certificate_results: "{{ certificate_results | default([]) | certfleet.tls.merge_certificate_results(new_entries) }}"
"""

RETURN = r"""
_value:
  description: The merged list.
  type: list
  elements: dict
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils.results import merge_certificate_results


class FilterModule:
    def filters(self):
        return {"merge_certificate_results": merge_certificate_results}
