# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of certfleet.tls.tls_decide: probe what every host serves over TLS, in threads, and decide.

An action plugin rather than a module: it runs inside Ansible's worker, which already holds cryptography and the
collection's code, instead of starting a Python process and importing them again. A scheduled no-op run is this one
task plus a few per-host ones, so that start-up was a large part of it (docs/benchmarks.md).
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.certfleet.tls.plugins.module_utils._acme.decision import check_renewal_options, decide_over_tls
from ansible_collections.certfleet.tls.plugins.module_utils._tls.probe import served_leaf
from ansible_collections.certfleet.tls.plugins.module_utils.certificate_specs import TLS_DECIDE_SPEC
from ansible_collections.certfleet.tls.plugins.module_utils.errors import CertfleetError


def decide_fleet(params):
    """tls_decide's result for validated ``params``; raises CertfleetError (InputError) naming a bad input."""
    check_renewal_options(params["renew_at_fraction"], params["renew_before_days"])
    for index, target in enumerate(params["targets"]):
        if not target.get("host") or not target.get("address"):
            raise AnsibleActionFail("targets[%d] needs host and address, got %s" % (index, sorted(target)))
    hosts = decide_over_tls(params["targets"],
                            lambda address, port, sni: served_leaf(address, port, sni, params["timeout"]),
                            workers=params["workers"], renew_at_fraction=params["renew_at_fraction"],
                            renew_before_days=params["renew_before_days"], force=params["force"])
    return dict(changed=False, hosts=hosts, ssh_hosts=sorted(h for h, entry in hosts.items() if entry["ssh"]))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(TLS_DECIDE_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        dummy, params = self.validate_argument_spec(argument_spec=TLS_DECIDE_SPEC)
        try:
            result.update(decide_fleet(params))
        except CertfleetError as error:
            raise AnsibleActionFail(error.msg)
        return result
