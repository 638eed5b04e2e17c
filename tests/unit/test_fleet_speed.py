"""Per-host costs of the certificate role that the benchmark found (issue 11, point 7), each pinned by a test that
fails if it comes back. Run in a fresh interpreter each: they are about what a process has imported."""

import os
import subprocess
import sys

COLLECTIONS = [os.environ.get("CERTFLEET_COLLECTIONS", "/tmp/certfleet/collections")]  # as tests/conftest.py


def fresh_python(code):
    """Run ``code`` in a new interpreter with Ansible's plugin loader over our collections path; its stdout."""
    prelude = ("from ansible.plugins.loader import action_loader, filter_loader, init_plugin_loader\n"
               "init_plugin_loader(%r)\n" % COLLECTIONS)
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": ":".join(sys.path)}).stdout.strip()


def test_importing_the_decide_action_imports_every_filter_of_the_collection():
    """The strategy imports the decide step's action plugin in the main process, before it forks a worker per host
    and task: the filters must be imported by then, so that no worker compiles them again."""
    out = fresh_python(
        "import sys\n"
        "assert action_loader.get('certfleet.tls.certificate_prepare', class_only=True) is not None\n"
        "names = ['host_results', 'fleet_push', 'fleet_deploy', 'fleet_outcomes', 'merge_certificate_results']\n"
        "print(sorted(n for n in names if 'ansible_collections.certfleet.tls.plugins.filter.' + n not in sys.modules))")
    assert out == "[]", "not imported with the decide action: %s" % out


def test_the_warm_filters_are_the_ones_templates_get():
    """A filter looked up after the warm-up is the collection's own function (the same loader, no copy)."""
    out = fresh_python(
        "action_loader.get('certfleet.tls.certificate_prepare', class_only=True)\n"
        "from ansible_collections.certfleet.tls.plugins.plugin_utils import results\n"
        "f = filter_loader.get('certfleet.tls.cap_orders')\n"
        "print(f.j2_function([{'name': 'b'}, {'name': 'a'}], 1) == results.cap_orders([{'name': 'b'}, {'name': 'a'}], 1))")
    assert out == "True"


def test_importing_the_decide_action_makes_its_first_key_in_the_main_process():
    """OpenSSL sets up its EC code at the first key made: done at import (the main process, before the forks), each
    worker shares it instead of keeping its own copy (docs/benchmarks.md)."""
    out = fresh_python(
        "import sys\n"
        "cls = action_loader.get('certfleet.tls.certificate_prepare', class_only=True)\n"
        "print(sys.modules[cls.__module__].KEYS_WARM)")
    assert out == "True"
