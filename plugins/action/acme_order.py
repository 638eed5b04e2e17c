# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""certfleet.tls.acme_order runs in Ansible's worker on the control node, not as a new Python process
(plugins/plugin_utils/worker_module.py says why and how)."""

from __future__ import annotations

from ansible_collections.certfleet.tls.plugins.plugin_utils.worker_module import WorkerModuleAction


class ActionModule(WorkerModuleAction):
    MODULE = "acme_order"
