# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: prometheus_textfile
short_description: The fleet report as Prometheus metrics for node_exporter's textfile collector
version_added: 0.2.0
description:
  - Renders the document built by C(certfleet.tls.fleet_report) in the Prometheus text exposition format (C(# HELP)
    and C(# TYPE) lines, label values escaped) - two gauges, C(certfleet_certificate_not_after_seconds) (Unix time)
    and C(certfleet_certificate_verified) (1 or 0), with the labels C(host), C(name) (the certificate name) and
    C(server_name).
  - A target that served nothing has no C(not_after) sample, only C(certfleet_certificate_verified 0).
  - Write the text with a name ending in C(.prom) atomically (C(certfleet.tls.report) does, see
    C(report_prometheus_path)) - the collector may read the directory at any time.
options:
  _input:
    description: The report document.
    type: dict
    required: true
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Metrics text
  ansible.builtin.debug:
    msg: "{{ fleet | certfleet.tls.prometheus_textfile }}"
"""

RETURN = r"""
_value:
  description: The metrics text, ending in a newline.
  type: str
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils.report import prometheus_textfile


class FilterModule:
    def filters(self):
        return {"prometheus_textfile": prometheus_textfile}
