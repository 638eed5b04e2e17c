"""The rig as a whole: up, down, status, clean. Reads top-down in the order things start."""

import json
import os
import shutil
import time

from . import bind, ca
from .clientconfig import close_control_masters, write_ansible_cfg, write_inventory, write_known_hosts
from .errors import RigError, fail
from .hosts import ensure_host, finish_web_start, host_processes, host_status
from .files import log, mkdir, rm, write
from .keymaterial import ensure_account_key, ensure_pebble_tls, ensure_ssh_client_key
from .ocsp import RESPONDER_URL, ensure_ocsp_responder, responder as ocsp_responder
from .packages import ensure_packages
from .paths import MAX_HOSTS, Paths, host_name
from .processes import locked, stop_pids, wait_ports


def services(paths):
    """The rig's shared daemons (not per host), in start order: status() reports them in this order,
    down() stops them after the hosts. A new service (a name server, an OCSP responder) goes here and
    gets an ensure_...() call in up(); see processes.py for the pattern."""
    return [bind.named(paths), ca.challtestsrv(paths), ca.pebble(paths), ocsp_responder(paths)]


def up(hosts=3, apache=None, deny_dotfiles=(), validity=ca.DEFAULT_VALIDITY, nonce_reject=0, authz_reuse=0,
       alternate_roots=0, base=None):
    """Start (idempotently) Pebble, challtestsrv and hosts 1..`hosts`. Returns the summary dict.

    apache: host indexes that run Apache instead of nginx (default: [3] if hosts >= 3, else []).
    deny_dotfiles: host indexes whose port-80 server answers 404 to every path starting with a dot
    segment, the ACME challenge path included. Both describe the desired state: a host whose
    server kind or deny setting changed since the last `up` gets its web server restarted.
    Hosts above `hosts` that are already running are left running (and untouched), but are not
    in the inventory; `down` stops them too.
    Pebble is restarted if validity/nonce_reject/authz_reuse/alternate_roots differ from those
    of the running Pebble (its root then changes: re-read <base>/pebble/root.pem).
    """
    t0 = time.monotonic()
    n = int(hosts)
    if not 0 <= n <= MAX_HOSTS:
        raise RigError("--hosts must be between 0 and %d" % MAX_HOSTS)
    apache = ([3] if n >= 3 else []) if apache is None else [int(k) for k in apache]
    deny = [int(k) for k in deny_dotfiles or ()]
    for opt, ks in (("--apache", apache), ("--deny-dotfiles", deny)):
        bad = [k for k in ks if not 1 <= k <= n]
        if bad:
            raise RigError("%s %s: host indexes must be between 1 and --hosts (%d)" % (opt, bad, n))
    for opt, v in (("--nonce-reject", nonce_reject), ("--authz-reuse", authz_reuse)):
        if not 0 <= int(v) <= 100:
            raise RigError("%s must be a percentage (0..100), got %s" % (opt, v))
    if int(validity) <= 0 or int(alternate_roots) < 0:
        raise RigError("--validity must be > 0 and --alternate-roots >= 0")
    if os.geteuid() != 0:
        raise RigError("rig.py must run as root (it binds ports 22/80/443 on 127.0.1.N)")

    paths = Paths(base)
    started = []
    with locked(paths):
        for d in (paths.run, paths.logs, paths.hosts, paths.cp):
            mkdir(d)
        write(paths.marker, "certfleet.tls test rig base dir (tests/rig/rig.py); `rig.py clean` deletes it\n")
        log(paths, "up hosts=%d apache=%s deny=%s validity=%s nonce_reject=%s authz_reuse=%s alt_roots=%s"
            % (n, apache, deny, validity, nonce_reject, authz_reuse, alternate_roots))
        installed = ensure_packages(paths)
        ensure_pebble_tls(paths)
        ensure_ssh_client_key(paths)
        ensure_account_key(paths)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

        # -- the CA: its DNS first (Pebble resolves through BIND)
        checks = bind.ensure_named(paths, started) + ca.ensure_challtestsrv(paths, started)
        pebble_checks, opts = ca.ensure_pebble(paths, validity, nonce_reject, authz_reuse, alternate_roots, started)
        checks += pebble_checks
        # -- the rig OCSP CA's responder (ocsp.py): key material once, one small loopback HTTP front
        checks += ensure_ocsp_responder(paths, started)

        # -- hosts: sshd now, web servers launched in parallel and collected below
        kinds = {i: ("apache" if i in apache else "nginx") for i in range(1, n + 1)}
        web_starts = []
        for i in range(1, n + 1):
            host_checks, web_start = ensure_host(paths, i, kinds[i], i in deny, started)
            checks += host_checks
            if web_start:
                web_starts.append(web_start)
        for web_start in web_starts:
            checks += finish_web_start(paths, web_start)

        wait_ports(checks)

        # -- DNS: hostN.test A records in BIND, one RFC 2136 update
        bind.set_host_records(paths, n)
        # -- Pebble's roots (regenerated at every Pebble start)
        ca.fetch_roots(paths, alternate_roots)
        # -- client side files
        write_known_hosts(paths)
        write_inventory(paths, n, kinds)
        write_ansible_cfg(paths)
        write(paths.state, json.dumps({"hosts": n, "kinds": {host_name(i): kinds[i] for i in kinds},
                                       "deny_dotfiles": deny, "pebble": opts}, indent=1, sort_keys=True) + "\n")

    summary = {
        "base": paths.base,
        "hosts": n,
        "host_names": [host_name(i) for i in range(1, n + 1)],
        "servers": {host_name(i): kinds[i] for i in range(1, n + 1)},
        "deny_dotfiles": [host_name(i) for i in deny],
        "inventory": paths.inventory,
        "ansible_cfg": paths.ansible_cfg,
        "pebble_directory": ca.DIRECTORY_URL,
        "pebble_ca": paths.pebble_ca,
        "pebble_root": paths.pebble_root,
        "pebble_alternate_roots": [paths.alt_root(i) for i in range(1, int(alternate_roots) + 1)],
        "pebble_log": paths.pebble_log,
        "ocsp_responder_url": RESPONDER_URL,
        "pebble_options": {k: opts[k] for k in ca.PEBBLE_OPTIONS},
        "account_key": paths.account_key,
        "ssh_key": paths.ssh_key,
        "known_hosts": paths.known_hosts,
        "dns_server": "%s:%d" % bind.NAMED_LISTEN,
        "dns": bind.dns_info(paths),
        "started": started,
        "installed_packages": installed,
        "seconds": round(time.monotonic() - t0, 2),
    }
    log(paths, "up done in %.2fs, started %s" % (summary["seconds"], started))
    return summary


def _all_rig_pids(paths):
    """(label, [pids]) for everything of this base dir that is alive: hosts, then the shared
    services in reverse start order."""
    out = host_processes(paths)
    for svc in reversed(services(paths)):
        pids = svc.pids()
        if pids:
            out.append((svc.label, pids))
    return out


def down(base=None):
    """Stop exactly the processes this rig started (by PID), close Ansible ControlPersist
    masters in <base>/cp. Idempotent; leaves all files in place."""
    t0 = time.monotonic()
    paths = Paths(base)
    if not os.path.isdir(paths.base):
        return {"base": paths.base, "stopped": [], "control_masters_closed": 0, "seconds": 0.0}
    with locked(paths):
        closed = close_control_masters(paths)
        victims = _all_rig_pids(paths)
        left = stop_pids([p for _w, pids in victims for p in pids])
        if left:
            fail("processes %s survived SIGKILL" % left, paths.rig_log)
        if os.path.isdir(paths.run):
            for f in os.listdir(paths.run):
                if f.endswith(".pid"):
                    rm(os.path.join(paths.run, f))
        rm(paths.pebble_opts)
        stopped = [w for w, _p in victims]
        log(paths, "down: stopped %s, closed %d control masters" % (stopped, closed))
    return {"base": paths.base, "stopped": stopped, "control_masters_closed": closed,
            "seconds": round(time.monotonic() - t0, 2)}


def status(base=None):
    """What is alive, as a dict."""
    paths = Paths(base)
    exists = os.path.isdir(paths.base)
    out = {"base": paths.base, "exists": exists}
    for svc in services(paths):
        out[svc.label] = svc.status() if exists else {"pid": None, "alive": False}
    out["hosts"] = {}
    opts = ca.running_options(paths)
    if isinstance(opts, dict) and all(k in opts for k in ca.PEBBLE_OPTIONS):
        out["pebble"]["options"] = {k: opts[k] for k in ca.PEBBLE_OPTIONS}
    try:
        with open(paths.state) as f:
            st = json.load(f)
        out["inventory_hosts"] = st.get("hosts")
    except (OSError, ValueError):
        st = {}
    out["hosts"] = host_status(paths, st.get("kinds", {}))
    everything = [out[svc.label] for svc in services(paths)]
    everything += [e[k] for e in out["hosts"].values() for k in ("sshd", "web")]
    out["all_alive"] = all(x["alive"] for x in everything)
    out["any_alive"] = any(x["alive"] for x in everything)
    return out


def clean(base=None):
    """down, then delete the base dir (only if it is a rig base dir)."""
    paths = Paths(base)
    if not os.path.isdir(paths.base):
        return {"base": paths.base, "removed": False}
    if not os.path.exists(paths.marker):
        raise RigError("%s has no %s marker: refusing to delete a directory the rig did not create"
                       % (paths.base, os.path.basename(paths.marker)))
    result = down(base=paths.base)
    shutil.rmtree(paths.base)
    return {"base": paths.base, "removed": True, "stopped": result["stopped"]}
