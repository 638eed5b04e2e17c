# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: report_html
short_description: The fleet report as one self-contained HTML page
version_added: 0.2.0
description:
  - Renders the document built by C(certfleet.tls.fleet_report) as one HTML page with inline CSS and SVG and nothing
    to fetch (no script, stylesheet, font or image from elsewhere) - a timeline of each certificate's validity,
    coloured by days left (expired, under 14 days, under 30 days, more, unknown when nothing was served), and a
    table with one row per host and certificate.
  - Every value from hosts and certificates is HTML-escaped.
options:
  _input:
    description: The report document.
    type: dict
    required: true
  title:
    description: Page title and heading.
    type: str
    default: certfleet.tls fleet report
author:
  - certfleet.tls developers (@certfleet)
"""

EXAMPLES = r"""
- name: Write the page
  ansible.builtin.copy:
    content: "{{ fleet | certfleet.tls.report_html }}"
    dest: /var/www/reports/certificates.html
    mode: "0644"
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
_value:
  description: The HTML page.
  type: str
"""

from ansible_collections.certfleet.tls.plugins.plugin_utils.report import report_html


class FilterModule:
    def filters(self):
        return {"report_html": report_html}
