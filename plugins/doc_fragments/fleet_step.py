# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """The certificate role's fleet steps: computed once per play, read by each host by its name."""

    DOCUMENTATION = r"""
options:
  orders:
    description: The C(orders) of the first M(certfleet.tls.acme_order) step (what was ordered, with the challenges).
    type: list
    elements: dict
notes:
  - A step of the certificate role, as plain Python (plugins/plugin_utils/results.py) so that it is unit-tested.
  - Computed once per play (a C(run_once) set_fact) and read by each host by its name, instead of being templated in
    every host's own task (ansible-core compiles a template each time it renders it, in each host's worker).
"""
