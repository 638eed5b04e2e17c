# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: report_query
short_description: A jmespath expression over the fleet report document
version_added: 0.2.0
description:
  - Applies a jmespath expression (U(https://jmespath.org)) to the document built by C(certfleet.tls.fleet_report)
    (the JSON that C(certfleet.tls.report) writes). C(certfleet.tls.report) prints the result of its
    C(report_query) variable with it.
  - Fails naming the expression when it is not valid jmespath.
options:
  _input:
    description: The report document.
    type: dict
    required: true
  expression:
    description: The jmespath expression.
    type: str
    required: true
requirements:
  - jmespath on the control node
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Certificates that expire within 14 days
  ansible.builtin.debug:
    msg: "{{ fleet | certfleet.tls.report_query('certificates[?days_left < `14`].[host, certificate, not_after]') }}"

- name: Issuers in use
  ansible.builtin.debug:
    msg: "{{ fleet | certfleet.tls.report_query('issuers[].issuer') }}"
"""

RETURN = r"""
_value:
  description: What the expression selects (any JSON type; null when nothing matches a field).
  type: raw
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils import report
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

report_query = as_filter(report.report_query, report.ReportError)


class FilterModule:
    def filters(self):
        return {"report_query": report_query}
