"""The controller modules' action plugins: the module's own work, run in Ansible's worker with a stand-in for
AnsibleModule (plugins/plugin_utils/worker_module.py). The option validation is ansible-core's own validator."""

import types

import pytest
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.certfleet.tls.plugins.module_utils import _glue
from ansible_collections.certfleet.tls.plugins.module_utils.errors import InputError
from ansible_collections.certfleet.tls.plugins.modules import acme_order, caa_check, ocsp_stapling, tls_verify
from ansible_collections.certfleet.tls.plugins.plugin_utils.worker_module import run_module_in_worker


def validator_for(task_args):
    """ActionBase.validate_argument_spec for these task args (the same validator, without a task)."""
    def validate(argument_spec, **constraints):
        result = ArgumentSpecValidator(argument_spec, **constraints).validate(dict(task_args))
        if result.error_messages:
            raise AnsibleActionFail("; ".join(result.error_messages))
        return result, result.validated_parameters
    return validate


DEFAULT_SPEC = {"secret": dict(type="str", no_log=True), "name": dict(type="str", default="www")}


def fake_module(work, **spec):
    def module_kwargs():
        return dict(argument_spec=dict(spec or DEFAULT_SPEC), supports_check_mode=True)

    def run(module):
        _glue.run_module(module, work, acme_requests=False, requires_acme=False)
    return types.SimpleNamespace(__name__="fake", module_kwargs=module_kwargs, run=run)


def test_the_result_keeps_no_no_log_value_and_the_options_are_coerced():
    def work(call):
        call.module.warn("about %s" % call.params["secret"])
        return dict(changed=False, echoed="key is %s" % call.params["secret"], name=call.params["name"],
                    check=call.check_mode)
    result = run_module_in_worker(fake_module(work), validator_for({"secret": "s3cr3t-value"}), True)
    assert "s3cr3t-value" not in str(result)
    assert result["echoed"] == "key is ********" and result["warnings"] == ["about ********"]
    assert result["name"] == "www" and result["check"] is True


def test_a_core_error_fails_the_task_through_the_same_funnel_without_the_secret():
    def work(call):
        raise InputError("account_key_content %s is not a key" % call.params["secret"])
    result = run_module_in_worker(fake_module(work), validator_for({"secret": "s3cr3t-value"}), False)
    assert result["failed"] is True and result["msg"] == "account_key_content ******** is not a key"


def test_a_bug_is_reported_with_its_traceback():
    def work(call):
        return {}["missing"]
    result = run_module_in_worker(fake_module(work), validator_for({}), False)
    assert result["failed"] and "certfleet.tls bug" in result["msg"] and "KeyError" in result["exception"]


def test_a_bad_option_is_refused_by_name():
    with pytest.raises(AnsibleActionFail, match="nmae"):
        run_module_in_worker(fake_module(lambda call: {}), validator_for({"nmae": "x"}), False)


def test_a_module_that_returns_without_exiting_is_a_bug():
    module_file = types.SimpleNamespace(__name__="broken", module_kwargs=lambda: dict(argument_spec={}),
                                        run=lambda module: None)
    with pytest.raises(AnsibleActionFail, match="broken returned without exit_json"):
        run_module_in_worker(module_file, validator_for({}), False)


@pytest.mark.parametrize("module_file", [acme_order, caa_check, ocsp_stapling, tls_verify])
def test_each_controller_module_states_its_arguments_once_for_both_ways_of_running(module_file):
    kwargs = module_file.module_kwargs()
    assert kwargs["supports_check_mode"] is True and kwargs["argument_spec"]
    # the action plugin's validation accepts what the module accepts
    ArgumentSpecValidator(**{k: v for k, v in kwargs.items() if k != "supports_check_mode"})


def test_acme_order_in_the_worker_refuses_a_bad_order_by_name_and_shows_no_key():
    pem = "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n"
    result = run_module_in_worker(acme_order, validator_for(
        {"account_key_content": pem, "acme_directory": "https://192.0.2.1/dir",
         "orders": [{"name": "www", "order_url": "https://192.0.2.1/order/1"}]}), False)
    assert result["failed"] is True and result["msg"].startswith("orders[0] (www)") and "not-a-key" not in str(result)
    assert result["acme_requests"] == 0  # refused before any request
