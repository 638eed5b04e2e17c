# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a controller module inside Ansible's worker, as its action plugin, instead of in a new Python process.

The controller modules (caa_check, acme_order, tls_verify, ocsp_stapling) run once per play on the control node.
As modules, each run cost a local AnsiballZ payload, a Python start, and importing ansible.module_utils.basic, acme
and cryptography again: about 0.3 s each, four to five times per issuance (docs/benchmarks.md). Their action
plugins hand the same work to the same error funnel (_glue.run_module) with a stand-in for AnsibleModule, so the
module file stays the single place where the module's options and work are written, and it still runs as a
module (ansible-doc, ``ansible -m``, the unit tests).

What AnsibleModule did that the stand-in must do too: validate and coerce the options (ActionBase's
ArgumentSpecValidator, the same one), honour check mode, and mask the value of every ``no_log`` option wherever it
appears in the result (remove_values, as exit_json and fail_json do).
"""

from __future__ import annotations

import importlib

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase

MODULES = "ansible_collections.certfleet.tls.plugins.modules."


class ModuleExit(Exception):
    """exit_json or fail_json was called: ``result`` is the task's result."""

    def __init__(self, result):
        super().__init__("module exited")
        self.result = result


class WorkerModule:
    """The part of AnsibleModule that a controller module's work and _glue.run_module use."""

    def __init__(self, params, check_mode):
        self.params = params
        self.check_mode = check_mode
        self.warnings = []

    def exit_json(self, **result):
        raise ModuleExit(result)

    def fail_json(self, msg, **result):
        raise ModuleExit(dict(result, failed=True, msg=msg))

    def warn(self, warning):
        self.warnings.append(warning)


def run_module_in_worker(module_file, args_validator, check_mode):
    """The result of ``module_file.run(module)`` for the task's options.

    ``module_file``: a controller module with ``module_kwargs()`` (its AnsibleModule arguments) and ``run(module)``
    (its main() after building the module). ``args_validator(**spec)``: ActionBase.validate_argument_spec, which
    raises AnsibleActionFail naming a bad option.
    """
    kwargs = dict(module_file.module_kwargs())
    kwargs.pop("supports_check_mode", None)  # every controller module supports it (sanity checks the module file)
    validation, params = args_validator(**kwargs)
    module = WorkerModule(params, check_mode)
    result = None
    try:
        module_file.run(module)
    except ModuleExit as done:
        result = done.result
    if result is None:
        raise AnsibleActionFail("%s returned without exit_json or fail_json (a certfleet.tls bug)"
                                % module_file.__name__)
    if module.warnings:
        result["warnings"] = list(result.get("warnings") or []) + module.warnings
    return remove_values(result, validation._no_log_values)


class WorkerModuleAction(ActionBase):
    """The action plugin of a controller module: set ``MODULE`` to its name."""

    TRANSFERS_FILES = False
    MODULE = None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        # Imported here, not at the top: Ansible loads this class in its main process, which then forks a worker
        # for every host and task; acme and the module's own imports belong in the one worker that runs it.
        module_file = importlib.import_module(MODULES + self.MODULE)
        result.update(run_module_in_worker(module_file, self.validate_argument_spec,
                                           bool(self._play_context.check_mode)))
        return result
