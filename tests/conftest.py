"""Shared test plumbing: the collection on sys.path, and a runner for modules as real processes."""

import json
import os
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.environ.get("CERTFLEET_COLLECTIONS", "/tmp/certfleet/collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "certfleet", "tls")

if not os.path.exists(LINK):  # `make` creates it; be kind to a bare `pytest` too
    os.makedirs(os.path.dirname(LINK), exist_ok=True)
    os.symlink(REPO, LINK)
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
sys.path.insert(0, os.path.join(REPO, "tests", "rig"))


def run_module(name, args, check_mode=False, diff=False, python=None):
    """Run plugins/modules/<name>.py the way Ansible does (args file), return its JSON result.

    The module runs in its own interpreter (the managed host's /usr/bin/python3 by default for host
    modules) so that an import of anything outside the standard library would fail here too.
    """
    payload = dict(args)
    payload["_ansible_check_mode"] = check_mode
    payload["_ansible_diff"] = diff
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, handle)
        path = handle.name
    env = dict(os.environ, PYTHONPATH=COLLECTIONS + os.pathsep + _ansible_path())
    try:
        proc = subprocess.run([python or sys.executable, "-m",
                               "ansible_collections.certfleet.tls.plugins.modules." + name, path],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
    finally:
        os.unlink(path)
    try:
        return json.loads(proc.stdout)
    except ValueError:
        raise AssertionError("module %s printed no JSON: rc=%s\nstdout=%s\nstderr=%s"
                             % (name, proc.returncode, proc.stdout, proc.stderr))


def _ansible_path():
    import ansible
    return os.path.dirname(os.path.dirname(ansible.__file__))


@pytest.fixture
def module_runner():
    return run_module
