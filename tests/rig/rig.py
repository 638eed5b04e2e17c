#!/usr/bin/env python3
"""Local test rig for the certfleet.tls collection (no Docker, loopback only, runs as root).

What it runs, all bound to 127.0.0.0/8:
  * BIND 9 (named) on 127.0.0.1:5053: zones test. (hostN.test -> 127.0.1.N) and acme-delegated.test.,
    RFC 2136 updates signed with TSIG (keys in <base>/named/*.key); Pebble's resolver
  * pebble-challtestsrv on 127.0.0.1:8053 and :8055 (no longer Pebble's resolver)
  * Pebble (ACME CA): https://127.0.0.1:14000/dir, management on 127.0.0.1:15000,
    HTTP-01 validation dials <A record>:80
  * OCSP responder of the rig OCSP CA: http://127.0.0.1:6960/ (openssl ocsp behind a loopback HTTP front)
  * per "managed host" N: sshd on 127.0.1.N:22 (root, key auth) and nginx or Apache on
    127.0.1.N:80 and :443, each with its own directory <base>/hosts/hostN/

CLI (see --help of each sub-command):
  rig.py up --hosts N [--apache K ...] [--deny-dotfiles K ...] [--validity S]
            [--nonce-reject PCT] [--authz-reuse PCT] [--alternate-roots N] [--base DIR]
  rig.py down | status | clean | reset-hosts | pebble-log-mark [--base DIR]
  rig.py dns NAME IP [IP ...] [--base DIR]

Python API (tests/rig on sys.path, then ``import rig``):
  up(hosts=3, ...) -> dict, down() -> dict, status() -> dict, set_dns(name, ips),
  clean() -> dict, reset_hosts() -> dict, pebble_log_mark() -> dict, pebble_log_since(offset) -> str
Every function takes base=None (default: $CERTFLEET_RIG or /tmp/certfleet/rig).
Errors raise RigError, whose message names the log file to read.

This file only re-exports the package next to it, tests/rig/certfleet_rig/ (one module per concern:
see its __init__ and tests/rig/README.md). Standard library only (Python >= 3.9); the keys and
certificates are made with the openssl and ssh-keygen command-line tools.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:  # `import rig` by file path: the package sits next to this file
    sys.path.insert(0, HERE)

# pylint: disable=wrong-import-position
from certfleet_rig import (  # noqa: E402
    APACHE_MODULES, BINARIES, CTS_MGMT, CTS_MGMT_URL, DEFAULT_BASE, DEFAULT_COLLECTIONS, DEFAULT_VALIDITY,
    DIRECTORY_URL, DNS_LISTEN, MARKER_ENV, MAX_HOSTS, PEBBLE_LISTEN, PEBBLE_MGMT, PEBBLE_MGMT_URL, PORT_TIMEOUT,
    STOP_TIMEOUT, TEMPLATES, OwnedProcess, Paths, PortCheck, RigError, alive, clean, default_base, down,
    ensure_packages, main, pebble_log_mark, pebble_log_since, reset_hosts, services, set_dns, status, up,
)
from certfleet_rig import (  # noqa: E402  the rig's BIND (certfleet_rig/bind.py)
    NAMED_LISTEN, delegate_acme_challenge, dns_info, named_log_mark, named_log_since, set_dns_records,
)
from certfleet_rig import (  # noqa: E402  the rig OCSP CA and responder (certfleet_rig/ocsp.py)
    OCSP_LISTEN, OCSP_RESPONDER_URL, ensure_ocsp, ocsp_fakeacme_issuer, ocsp_issue, ocsp_mode, ocsp_register,
    ocsp_revoke, ocsp_status,
)
__all__ = [
    "up", "down", "status", "clean", "reset_hosts", "set_dns", "pebble_log_mark", "pebble_log_since",
    "RigError", "Paths", "default_base", "main",
    "set_dns_records", "delegate_acme_challenge", "dns_info", "named_log_mark", "named_log_since", "NAMED_LISTEN",
    "ensure_ocsp", "ocsp_issue", "ocsp_register", "ocsp_revoke", "ocsp_mode", "ocsp_status",
    "ocsp_fakeacme_issuer", "OCSP_LISTEN", "OCSP_RESPONDER_URL",
    "OwnedProcess", "PortCheck", "alive", "ensure_packages", "services",
    "APACHE_MODULES", "BINARIES", "CTS_MGMT", "CTS_MGMT_URL", "DEFAULT_BASE", "DEFAULT_COLLECTIONS",
    "DEFAULT_VALIDITY", "DIRECTORY_URL", "DNS_LISTEN", "HERE", "MARKER_ENV", "MAX_HOSTS", "PEBBLE_LISTEN",
    "PEBBLE_MGMT", "PEBBLE_MGMT_URL", "PORT_TIMEOUT", "STOP_TIMEOUT", "TEMPLATES",
]

if __name__ == "__main__":
    sys.exit(main())
