# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The input of the certificate role's filters that look across the play's hosts."""

    DOCUMENTATION = r"""
options:
  _input:
    description: Host names (C(ansible_play_hosts)).
    type: raw
    required: true
  hostvars:
    description: The C(hostvars) magic variable; each host's certificate requests are read from it.
    type: dict
author:
  - certfleet.tls developers (@certfleet)
"""
