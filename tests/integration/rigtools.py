"""Integration plumbing: the real rig (Pebble, sshd, nginx, Apache on 127.0.1.x) and real playbook runs."""

import os
import re
import socket
import ssl
import subprocess
import sys

from cryptography import x509

BASE = os.environ.get("CERTFLEET_RIG", "/tmp/certfleet/rig")
RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)"
                   r"\s+rescued=(\d+)\s+ignored=(\d+)", re.M)


class Run:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout + proc.stderr
        self.recap = {m.group(1): dict(zip(("ok", "changed", "unreachable", "failed", "skipped", "rescued"),
                                           map(int, m.groups()[1:7])))
                      for m in RECAP.finditer(proc.stdout)}

    def __repr__(self):
        return "rc=%s recap=%s\n%s" % (self.rc, self.recap, self.out[-6000:])


def ansible_env():
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=os.path.join(BASE, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    return env


def run_playbook(playbook, *args, extra_vars=None, limit=None):
    cmd = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), playbook]
    for key, value in (extra_vars or {}).items():
        cmd += ["-e", "%s=%s" % (key, value)]
    if limit:
        cmd += ["--limit", limit]
    cmd += list(args)
    return Run(subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(), timeout=600, check=False))


def served_certificate(address, server_name, cafile, port=443):
    """What a browser-like client sees: verified chain and hostname, or an ssl error."""
    context = ssl.create_default_context(cafile=cafile)
    with socket.create_connection((address, port), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def served_unverified(address, server_name, port=443):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((address, port), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname=server_name) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


def pebble_requests(text):
    """ACME requests Pebble logged (one 'calling handler()' line each)."""
    return re.findall(r"(GET|POST|HEAD) (\S+) -> calling handler\(\)", text)
