"""certfleet_rig: the test rig of certfleet.tls as a package; tests/rig/rig.py is its CLI and its import name.

One module per concern, imports pointing one way (down this list):

  errors.py        RigError, and fail() that names the log files to read
  paths.py         Paths (the base dir layout), host names and addresses
  files.py         atomic writes, templates, PID files, the rig's own log
  processes.py     run, spawn, own, wait for, stop processes; the lock; OwnedProcess (the service pattern)
  packages.py      binaries and their Debian packages (apt-get install of the missing ones)
  keymaterial.py   Pebble's HTTPS CA, SSH keys, ACME account key, host keys and placeholder certificates
  bind.py          BIND 9 (named): zones test. and acme-delegated.test., TSIG keys, records via nsupdate
  ca.py            Pebble (resolving through BIND), pebble-challtestsrv, A records, Pebble's roots and log
  ocsp.py          the rig OCSP CA and its responder (openssl ocsp behind a loopback HTTP front)
  hosts.py         per host: sshd, nginx or Apache (configs, start, stop), reset-hosts
  clientconfig.py  inventory.yml, ansible.cfg, known_hosts, ControlPersist masters
  api.py           up, down, status, clean
  cli.py           the `rig.py` command line
"""

from .api import clean, down, services, status, up
from .bind import (NAMED_LISTEN, delegate_acme_challenge, dns_info, named_log_mark, named_log_since,
                   set_dns_records)
from .ca import (CTS_MGMT, CTS_MGMT_URL, DEFAULT_VALIDITY, DIRECTORY_URL, DNS_LISTEN, PEBBLE_LISTEN, PEBBLE_MGMT,
                 PEBBLE_MGMT_URL, pebble_log_mark, pebble_log_since, set_dns)
from .cli import main
from .errors import RigError
from .hosts import APACHE_MODULES, reset_hosts
from .ocsp import (OCSP_LISTEN, RESPONDER_URL as OCSP_RESPONDER_URL, ensure_ocsp, ocsp_fakeacme_issuer,
                   ocsp_issue, ocsp_mode, ocsp_register, ocsp_revoke, ocsp_status)
from .packages import BINARIES, ensure_packages
from .paths import DEFAULT_BASE, DEFAULT_COLLECTIONS, MAX_HOSTS, TEMPLATES, Paths, default_base
from .processes import MARKER_ENV, PORT_TIMEOUT, STOP_TIMEOUT, OwnedProcess, PortCheck, alive

__all__ = [
    # the Python API
    "up", "down", "status", "clean", "reset_hosts", "set_dns", "pebble_log_mark", "pebble_log_since",
    "RigError", "Paths", "default_base", "main",
    "set_dns_records", "delegate_acme_challenge", "dns_info", "named_log_mark", "named_log_since", "NAMED_LISTEN",
    "ensure_ocsp", "ocsp_issue", "ocsp_register", "ocsp_revoke", "ocsp_mode", "ocsp_status",
    "ocsp_fakeacme_issuer", "OCSP_LISTEN", "OCSP_RESPONDER_URL",
    # building blocks
    "OwnedProcess", "PortCheck", "alive", "ensure_packages", "services",
    # constants
    "APACHE_MODULES", "BINARIES", "CTS_MGMT", "CTS_MGMT_URL", "DEFAULT_BASE", "DEFAULT_COLLECTIONS",
    "DEFAULT_VALIDITY", "DIRECTORY_URL", "DNS_LISTEN", "MARKER_ENV", "MAX_HOSTS", "PEBBLE_LISTEN", "PEBBLE_MGMT",
    "PEBBLE_MGMT_URL", "PORT_TIMEOUT", "STOP_TIMEOUT", "TEMPLATES",
]
