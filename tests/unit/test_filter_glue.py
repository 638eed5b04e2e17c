"""filter_glue.as_filter: the one wrapper between the plain-Python steps of plugins/plugin_utils and the filters.

The factory is tested directly; the collection's filters are checked to be their steps behind it, and a few are run
through Ansible's own filter loader and templating (a fresh interpreter) to show the step's message reaching the task.
"""

import importlib
import inspect
import json
import os
import subprocess
import sys

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.certfleet.tls.plugins.plugin_utils import dane, report, requests, results
from ansible_collections.certfleet.tls.plugins.plugin_utils.filter_glue import as_filter

COLLECTIONS = os.environ.get("CERTFLEET_COLLECTIONS", "/tmp/certfleet/collections")  # as tests/conftest.py


class StepError(ValueError):
    """Stands for a step's own error class (RequestError, ReportError, DaneError)."""


def step(hosts, hostvars=None, port=443):
    """A step: its docstring must survive the wrapping."""
    if port == 0:
        raise StepError("certificate_verify_port of %s must be 1-65535, got 0" % hosts[0])
    if port == -1:
        raise ValueError("not the step's own error")
    if port == -2:
        raise KeyError("certificate_requests")
    return [hosts, hostvars, port]


def test_arguments_and_result_pass_through_unchanged():
    wrapped = as_filter(step)
    assert wrapped(["web1"], {"web1": {}}, port=8443) == [["web1"], {"web1": {}}, 8443]
    assert wrapped(["web1"]) == [["web1"], None, 443]


def test_it_keeps_the_steps_name_docstring_and_arguments():
    wrapped = as_filter(step)
    assert wrapped.__name__ == "step" and wrapped.__doc__ == step.__doc__
    assert list(inspect.signature(wrapped).parameters) == ["hosts", "hostvars", "port"]


def test_an_input_error_becomes_a_filter_error_with_the_same_message():
    with pytest.raises(AnsibleFilterError) as caught:
        as_filter(step)(["web1"], port=0)
    assert caught.value.message == "certificate_verify_port of web1 must be 1-65535, got 0"
    assert isinstance(caught.value.__context__, StepError)  # the step's error stays on the chain


def test_a_narrower_error_class_lets_other_value_errors_through():
    wrapped = as_filter(step, StepError)
    with pytest.raises(AnsibleFilterError):
        wrapped(["web1"], port=0)
    with pytest.raises(ValueError, match="not the step's own error") as caught:
        wrapped(["web1"], port=-1)
    assert not isinstance(caught.value, AnsibleFilterError)


def test_a_bug_keeps_its_own_type():
    with pytest.raises(KeyError):
        as_filter(step)(["web1"], port=-2)
    with pytest.raises(TypeError):  # a wrong call of the filter is the step's own TypeError
        as_filter(step)(["web1"], {}, 443, "extra")


def test_as_a_decorator_with_an_error_class():
    @as_filter(errors=StepError)
    def narrowed(hosts):
        """Only the documented options."""
        return step(hosts, port=0)

    assert narrowed.__name__ == "narrowed"
    with pytest.raises(AnsibleFilterError, match="must be 1-65535"):
        narrowed(["web1"])


@pytest.mark.parametrize("errors", [Exception, TypeError, (ValueError, KeyError), (), "ValueError"])
def test_it_refuses_to_turn_anything_but_value_errors_into_input_errors(errors):
    with pytest.raises(TypeError, match=r"as_filter\(step\): errors must be ValueError"):
        as_filter(step, errors)


# Each filter file and the step it must be, unchanged, behind as_filter (filters that narrow a step's arguments
# are checked by their signature below).
STEPS = {
    "backend_counts": results.backend_counts,
    "cap_orders": results.cap_orders,
    "cleanup_items": results.cleanup_items,
    "deployed_targets": results.deployed_targets,
    "dns01_probe_records": results.dns01_probe_records,
    "dns01_records": results.dns01_records,
    "fleet_deploy": results.fleet_deploy,
    "fleet_outcomes": results.fleet_outcomes,
    "fleet_push": results.fleet_push,
    "host_results": results.host_results,
    "incomplete_backends": results.incomplete_backends,
    "preflight_exclusions": results.preflight_exclusions,
    "tls_decide_targets": results.tls_decide_targets,
    "stapled_names": results.stapled_names,
    "certificate_requests": requests.normalize_requests,
    "report_query": report.report_query,
}


def filter_function(name):
    module = importlib.import_module("ansible_collections.certfleet.tls.plugins.filter." + name)
    return module.FilterModule().filters()[name]


@pytest.mark.parametrize("name", sorted(STEPS))
def test_each_filter_is_its_step_behind_the_glue(name):
    function = filter_function(name)
    assert function.__wrapped__ is STEPS[name]


def test_the_narrowed_filters_keep_their_documented_arguments():
    assert list(inspect.signature(filter_function("fleet_report")).parameters) == [
        "results", "targets", "hostvars", "pins"]
    assert list(inspect.signature(filter_function("tlsa_publication")).parameters) == [
        "value", "hostvars", "ttl", "outcomes"]
    with pytest.raises(AnsibleFilterError, match="certificate_tlsa_ttl must be seconds >= 0"):
        filter_function("tlsa_publication")([], {}, ttl=-1)
    with pytest.raises(AnsibleFilterError, match="1 results for 0 targets"):
        filter_function("fleet_report")([{}], [], {})
    assert isinstance(dane.DaneError("x"), ValueError) and isinstance(report.ReportError("x"), ValueError)


ANSIBLE_RUN = r"""
import json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader(%r)
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
out = []
for template, variables in json.loads(sys.stdin.read()):
    try:
        out.append(["ok", Templar(loader=DataLoader(), variables=variables).template(trust_as_template(template))])
    except AnsibleError as error:
        out.append(["error", error.message])
print(json.dumps(out))
"""

BACKENDS = {"a": {"certificate_requests": [{"name": "www", "domains": ["www.example.org"], "dir": "/x"}]},
            "b": {"certificate_requests": [{"name": "www", "domains": ["shop.example.org"], "dir": "/x"}]}}
CASES = [
    ("{{ reqs | certfleet.tls.certificate_requests }}", {"reqs": [{"domains": ["www.example.org"]}]},
     "The filter plugin 'certfleet.tls.certificate_requests' failed: certificate_requests[0] has no dir"),
    ("{{ ['a', 'b'] | certfleet.tls.backend_counts(hv) }}", {"hv": BACKENDS},
     "The filter plugin 'certfleet.tls.backend_counts' failed: certificate name 'www' is requested for "
     "['www.example.org'] on a but for ['shop.example.org'] on b"),
    ("{{ {} | certfleet.tls.report_query('') }}", {},
     "The filter plugin 'certfleet.tls.report_query' failed: report_query must be a jmespath expression"),
    ("{{ [] | certfleet.tls.tlsa_publication({}, ttl=-1) }}", {},
     "The filter plugin 'certfleet.tls.tlsa_publication' failed: certificate_tlsa_ttl must be seconds >= 0 (got -1)"),
    ("{{ [{'name': 'b'}, {'name': 'a'}] | certfleet.tls.cap_orders(1) }}", {}, [[{"name": "a"}], [{"name": "b"}]]),
]


def test_through_ansible_the_task_error_is_the_steps_message():
    proc = subprocess.run([sys.executable, "-c", ANSIBLE_RUN % [COLLECTIONS]],
                          input=json.dumps([case[:2] for case in CASES]),
                          capture_output=True, text=True, env={"PYTHONPATH": ":".join(sys.path)}, check=False)
    assert proc.returncode == 0, proc.stderr
    for (template, _variables, expected), (kind, value) in zip(CASES, json.loads(proc.stdout)):
        if isinstance(expected, str):
            assert kind == "error" and value.startswith(expected), (template, kind, value)
        else:
            assert kind == "ok" and value == expected, (template, kind, value)
