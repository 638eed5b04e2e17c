# -*- coding: utf-8 -*-
# Copyright: certfleet.tls developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verification over TLS from the control node: what does the host really serve to a browser-like client?"""

from __future__ import annotations

import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor

try:
    from cryptography import x509
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False

from ..host_files import served_leaf_der
from .x509info import certificate_facts


def fetch_served_certificate(address, port, server_name, ca_bundle=None, timeout=5.0):
    """Handshake with SNI, verifying chain and hostname like a browser; returns facts (+ 'verified')."""
    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    facts = {"address": address, "port": port, "server_name": server_name}
    try:
        with socket.create_connection((address, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=server_name) as tls:
                der = tls.getpeercert(binary_form=True)
                facts["tls_version"] = tls.version()
        facts.update(certificate_facts(x509.load_der_x509_certificate(der)))
        facts["verified"] = True
        facts["error"] = None
    except ssl.SSLCertVerificationError as error:
        facts.update(verified=False, error="certificate verification failed: %s" % error.verify_message)
        facts.update(_unverified_facts(address, port, server_name, timeout))
    except (OSError, ssl.SSLError) as error:
        facts.update(verified=False, error="TLS connection to %s:%s failed: %s" % (address, port, error))
    return facts


def _unverified_facts(address, port, server_name, timeout):
    """What is served, even if untrusted, so the report says *which* certificate failed."""
    certificate, _why = served_leaf(address, port, server_name, timeout)
    if certificate is None:
        return {}
    try:
        return certificate_facts(certificate)
    except ValueError:
        return {}


def fetch_served_unverified(address, port, server_name, timeout=5.0):
    """For CAs browsers do not trust (staging): the name and serial are still checked, the chain is not."""
    facts = {"address": address, "port": port, "server_name": server_name, "chain_verified": False}
    served = _unverified_facts(address, port, server_name, timeout)
    if not served:
        facts.update(verified=False, error="TLS connection to %s:%s failed" % (address, port))
        return facts
    facts.update(served)
    names = [n.lower() for n in served.get("domains", [])]
    wildcard = "*." + server_name.split(".", 1)[-1]
    if server_name.lower() not in names and wildcard not in names:
        facts.update(verified=False, error="certificate names %s, not %s" % (names, server_name))
    else:
        facts.update(verified=True, error=None)
    return facts


def verify_target(target, ca_bundle=None, timeout=5.0, wait=10.0, sleep=time.sleep, clock=time.monotonic,
                  verify_chain=True):
    """Verify one target; when ``expect_serial`` is given, wait (up to ``wait`` s) for a reload to take effect."""
    deadline = clock() + wait
    delay = 0.05
    while True:
        if verify_chain:
            facts = fetch_served_certificate(target["address"], target.get("port", 443), target["server_name"],
                                             ca_bundle, timeout)
            facts["chain_verified"] = facts["verified"]
        else:
            facts = fetch_served_unverified(target["address"], target.get("port", 443), target["server_name"],
                                            timeout)
        facts["name"] = target.get("name")
        expected = target.get("expect_serial")
        if expected and facts.get("verified") and facts.get("serial") != expected:
            facts.update(verified=False, error="serves serial %s, expected %s (reload not effective?)"
                         % (facts.get("serial"), expected))
        if facts["verified"] or clock() + delay > deadline:
            return facts
        sleep(delay)
        delay = min(delay * 2, 1.0)


def verify_targets(targets, ca_bundle=None, timeout=5.0, wait=10.0, workers=16, verify_chain=True):
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(targets)))) as pool:
        return list(pool.map(lambda t: verify_target(t, ca_bundle, timeout, wait, verify_chain=verify_chain),
                             targets))


def served_leaf(address, port, server_name, timeout=5.0):
    """(certificate, None) of the leaf served for ``server_name``, or (None, why not). No verification: the caller
    decides from its names and dates (a renewal decision, not a browser's)."""
    try:
        return x509.load_der_x509_certificate(served_leaf_der(address, port, server_name, timeout)), None
    except (OSError, ssl.SSLError, ValueError) as error:
        return None, "TLS connection to %s:%s (SNI %s) failed: %s" % (address, port, server_name, error)
