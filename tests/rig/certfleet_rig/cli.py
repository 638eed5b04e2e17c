"""`rig.py` command line: one sub-command per API function, a one-line JSON result on stdout."""

import argparse
import json
import sys

from .api import clean, down, status, up
from .ca import DEFAULT_VALIDITY, pebble_log_mark, set_dns
from .errors import RigError
from .hosts import reset_hosts
from .ocsp import add_cli as add_ocsp_cli, run_cli as run_ocsp_cli
from .paths import DEFAULT_BASE

DESCRIPTION = "Local test rig for the certfleet.tls collection (no Docker, loopback only, runs as root)."


def main(argv=None):
    ap = argparse.ArgumentParser(prog="rig.py", description=DESCRIPTION)
    ap.add_argument("--base", help="rig base dir (default: $CERTFLEET_RIG or %s)" % DEFAULT_BASE)
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--base", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    u = sub.add_parser("up", parents=[common], help="start (idempotently) Pebble + N hosts")
    u.add_argument("--hosts", type=int, default=3, help="number of hosts (host1..hostN on 127.0.1.1..N)")
    u.add_argument("--apache", type=int, nargs="*", metavar="K",
                   help="hosts running Apache instead of nginx (default: 3 if N>=3; no value: none)")
    u.add_argument("--deny-dotfiles", type=int, nargs="*", default=[], metavar="K",
                   help="hosts whose port 80 answers 404 for any path starting with a dot segment")
    u.add_argument("--validity", type=int, default=DEFAULT_VALIDITY, help="certificate validity (seconds)")
    u.add_argument("--nonce-reject", type=int, default=0, help="PEBBLE_WFE_NONCEREJECT percentage")
    u.add_argument("--authz-reuse", type=int, default=0, help="PEBBLE_AUTHZREUSE percentage")
    u.add_argument("--alternate-roots", type=int, default=0, help="PEBBLE_ALTERNATE_ROOTS")
    sub.add_parser("down", parents=[common], help="stop every process of the rig (files stay)")
    sub.add_parser("status", parents=[common], help="JSON of what is alive")
    sub.add_parser("clean", parents=[common], help="down, then delete the base dir")
    sub.add_parser("reset-hosts", parents=[common], help="live -> placeholder, drop releases/next/challenges")
    sub.add_parser("pebble-log-mark", parents=[common], help="print the Pebble log path and current size")
    add_ocsp_cli(sub, common)  # ocsp, ocsp-issue, ocsp-revoke, ocsp-mode
    dn = sub.add_parser("dns", parents=[common], help="set the A records of NAME (replaces existing ones)")
    dn.add_argument("name")
    dn.add_argument("ips", nargs="+", metavar="IP")
    a = ap.parse_args(argv)
    try:
        if a.cmd == "up":
            res = up(hosts=a.hosts, apache=a.apache, deny_dotfiles=a.deny_dotfiles, validity=a.validity,
                     nonce_reject=a.nonce_reject, authz_reuse=a.authz_reuse, alternate_roots=a.alternate_roots,
                     base=a.base)
        elif a.cmd == "down":
            res = down(base=a.base)
        elif a.cmd == "status":
            res = status(base=a.base)
        elif a.cmd == "clean":
            res = clean(base=a.base)
        elif a.cmd == "reset-hosts":
            res = reset_hosts(base=a.base)
        elif a.cmd == "pebble-log-mark":
            res = pebble_log_mark(base=a.base)
        elif a.cmd.startswith("ocsp"):
            res = run_ocsp_cli(a)
        else:
            res = set_dns(a.name, a.ips, base=a.base)
    except RigError as e:
        print("rig.py %s: error: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    print(json.dumps(res, sort_keys=False))
    return 0
