"""The CA side: Pebble (ACME), pebble-challtestsrv, the A records (in BIND), Pebble's roots and log.

Pebble resolves names through the rig's BIND (bind.py), which serves the A records and the dns-01 TXT
records; challtestsrv still runs (bench/ reads its PID) but no longer answers Pebble."""

import hashlib
import json
import os
import ssl
import time
import urllib.error
import urllib.request

from . import bind
from .errors import fail
from .files import log, now, rm, template, write
from .packages import binary
from .paths import Paths
from .processes import OwnedProcess, daemon_env, port_open, stop_pids

DEFAULT_VALIDITY = 7776000  # 90 days

PEBBLE_LISTEN = ("127.0.0.1", 14000)
PEBBLE_MGMT = ("127.0.0.1", 15000)
DNS_LISTEN = ("127.0.0.1", 8053)
CTS_MGMT = ("127.0.0.1", 8055)
DIRECTORY_URL = "https://127.0.0.1:14000/dir"
PEBBLE_MGMT_URL = "https://127.0.0.1:15000"
CTS_MGMT_URL = "http://127.0.0.1:8055"

# the options of `up` that describe the running Pebble (a change restarts it)
PEBBLE_OPTIONS = ("validity", "nonce_reject", "authz_reuse", "alternate_roots")


def challtestsrv(paths):
    return OwnedProcess(paths, "challtestsrv", exe="pebble-challtestsrv", what="pebble-challtestsrv",
                        ports=[CTS_MGMT, DNS_LISTEN], ready=[CTS_MGMT], log=paths.cts_log, pidfile=paths.cts_pid)


def pebble(paths):
    return OwnedProcess(paths, "pebble", exe="pebble", ports=[PEBBLE_LISTEN, PEBBLE_MGMT], tls=True,
                        log=paths.pebble_log, pidfile=paths.pebble_pid)


# --------------------------------------------------------------------------------------
# challtestsrv
# --------------------------------------------------------------------------------------

def ensure_challtestsrv(paths, started):
    """Start challtestsrv unless it runs; returns the PortChecks for up() to wait on."""
    proc = challtestsrv(paths)
    pid = proc.pid()
    if not pid:
        # its defaults bind :8053, :5002, :5001, :5003 and :8055 on every address: loopback only,
        # its own challenge servers off, and no AAAA (Pebble would dial [::1]:80 with no fallback)
        pid = proc.start([binary("pebble-challtestsrv"), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                          "-dns01", "%s:%d" % DNS_LISTEN, "-http01", "", "-https01", "", "-tlsalpn01", "",
                          "-management", "%s:%d" % CTS_MGMT])
        started.append("challtestsrv")
    return proc.checks(pid)


def _no_proxy_opener(context=None):
    handlers = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def set_a_records(paths, name, ips):
    """Replace the A records of `name` in the rig's BIND (an RFC 2136 update)."""
    bind.set_records(paths, name, "A", list(ips))


def set_dns(name, ips, base=None):
    """Replace the A records of `name` in the rig's BIND (all `ips`; an empty list clears them).
    Records live in its zone until named restarts (a `down`, then `up`)."""
    paths = Paths(base)
    set_a_records(paths, name, list(ips))
    return {"name": name.rstrip("."), "addresses": list(ips)}


# --------------------------------------------------------------------------------------
# Pebble
# --------------------------------------------------------------------------------------

def pebble_desired(paths, validity, nonce_reject, authz_reuse, alternate_roots):
    """(config text, environment, options record) of the Pebble that `up` asks for."""
    cfg = template("pebble-config.json.in", {
        "PEBBLE_DIR": json.dumps(paths.pebble_dir)[1:-1],
        "VALIDITY": str(int(validity)),
    })
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": str(int(nonce_reject)),
           "PEBBLE_AUTHZREUSE": str(int(authz_reuse))}
    if alternate_roots:
        env["PEBBLE_ALTERNATE_ROOTS"] = str(int(alternate_roots))
    opts = {"validity": int(validity), "nonce_reject": int(nonce_reject), "authz_reuse": int(authz_reuse),
            "alternate_roots": int(alternate_roots), "env": env, "dns_server": "%s:%d" % bind.NAMED_LISTEN,
            "config_sha256": hashlib.sha256(cfg.encode()).hexdigest()}
    return cfg, env, opts


def running_options(paths):
    """The options record of the running Pebble (run/pebble.opts.json), or None."""
    try:
        with open(paths.pebble_opts) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ensure_pebble(paths, validity, nonce_reject, authz_reuse, alternate_roots, started):
    """Start Pebble, or restart it if its options changed; returns (PortChecks, options record)."""
    cfg, env, opts = pebble_desired(paths, validity, nonce_reject, authz_reuse, alternate_roots)
    write(paths.pebble_cfg, cfg)
    proc = pebble(paths)
    pid = proc.pid()
    if pid:
        running = running_options(paths)
        if running != opts:
            log(paths, "pebble options changed (%s -> %s): restarting pebble" % (running, opts))
            if stop_pids(proc.pids(pid)):
                fail("could not stop pebble (pid %d)" % pid, paths.pebble_log)
            pid = None
            # wait for the old listener's ports to be released
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and (port_open(*PEBBLE_LISTEN) or port_open(*PEBBLE_MGMT)):
                time.sleep(0.05)
    if not pid:
        proc.check_free()
        with open(paths.pebble_log, "a") as f:
            f.write("%s certfleet rig: pebble options %s\n" % (now(), json.dumps(opts, sort_keys=True)))
        # env: PEBBLE_VA_NOSLEEP (no random delay before each validation), nonce rejection and authz
        # reuse at the asked percentages (0 by default: deterministic tests), alternate roots
        pid = proc.spawn([binary("pebble"), "-config", paths.pebble_cfg, "-dnsserver", opts["dns_server"],
                          "-strict=false"], env=daemon_env(paths, env), cwd=paths.pebble_dir)
        write(paths.pebble_opts, json.dumps(opts, sort_keys=True, indent=1) + "\n")
        started.append("pebble")
    return proc.checks(pid), opts


def _https_get(paths, path):
    ctx = ssl.create_default_context(cafile=paths.pebble_ca)
    with _no_proxy_opener(ctx).open(PEBBLE_MGMT_URL + path, timeout=10) as r:
        return r.read()


def fetch_roots(paths, alternate_roots):
    """pebble/root.pem (and root-K.pem): Pebble makes a new root at every start."""
    deadline = time.monotonic() + 10
    while True:
        try:
            root = _https_get(paths, "/roots/0")
            break
        except (OSError, urllib.error.URLError) as e:
            if time.monotonic() > deadline:
                fail("cannot fetch Pebble's root from %s/roots/0: %s" % (PEBBLE_MGMT_URL, e), paths.pebble_log)
            time.sleep(0.1)
    write(paths.pebble_root, root)
    for i in range(1, int(alternate_roots) + 1):
        try:
            write(paths.alt_root(i), _https_get(paths, "/roots/%d" % i))
        except (OSError, urllib.error.URLError) as e:
            fail("cannot fetch Pebble's alternate root %s/roots/%d: %s" % (PEBBLE_MGMT_URL, i, e), paths.pebble_log)
    i = int(alternate_roots) + 1
    while os.path.exists(paths.alt_root(i)):  # stale roots of an earlier Pebble with more alternates
        rm(paths.alt_root(i))
        i += 1


def pebble_log_mark(base=None):
    """Current end of the Pebble log: pass `offset` to pebble_log_since() to get what was logged
    after it (e.g. to count ACME requests of one test)."""
    paths = Paths(base)
    try:
        size = os.path.getsize(paths.pebble_log)
    except OSError:
        size = 0
    return {"path": paths.pebble_log, "offset": size}


def pebble_log_since(offset, base=None):
    paths = Paths(base)
    with open(paths.pebble_log, "rb") as f:
        f.seek(int(offset))
        return f.read().decode("utf-8", "replace")
