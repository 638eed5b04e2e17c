#!/usr/bin/env python3
"""Local test rig for the certfleet.tls collection (no Docker, loopback only, runs as root).

What it runs, all bound to 127.0.0.0/8:
  * pebble-challtestsrv: mock DNS on 127.0.0.1:8053, management API on 127.0.0.1:8055
    (hostN.test -> 127.0.1.N; all of its own challenge servers disabled; no AAAA answers)
  * Pebble (ACME CA): https://127.0.0.1:14000/dir, management on 127.0.0.1:15000,
    HTTP-01 validation dials <A record>:80
  * per "managed host" N: sshd on 127.0.1.N:22 (root, key auth) and nginx or Apache on
    127.0.1.N:80 and :443, each with its own directory <base>/hosts/hostN/

CLI (see --help of each sub-command):
  rig.py up --hosts N [--apache K ...] [--deny-dotfiles K ...] [--validity S]
            [--nonce-reject PCT] [--authz-reuse PCT] [--alternate-roots N] [--base DIR]
  rig.py down | status | clean | pebble-log-mark [--base DIR]
  rig.py dns NAME IP [IP ...] [--base DIR]

Python API (tests/rig on sys.path, then ``import rig``):
  up(hosts=3, ...) -> dict, down() -> dict, status() -> dict, set_dns(name, ips),
  clean() -> dict, pebble_log_mark() -> dict, pebble_log_since(offset) -> str
Every function takes base=None (default: $CERTFLEET_RIG or /tmp/certfleet/rig).
Errors raise RigError, whose message names the log file to read.

Standard library only (Python >= 3.9); the keys and certificates are made with the
openssl and ssh-keygen command-line tools.
"""

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "templates")

DEFAULT_BASE = "/tmp/certfleet/rig"
DEFAULT_COLLECTIONS = "/tmp/certfleet/collections"
DEFAULT_VALIDITY = 7776000  # 90 days

PEBBLE_LISTEN = ("127.0.0.1", 14000)
PEBBLE_MGMT = ("127.0.0.1", 15000)
DNS_LISTEN = ("127.0.0.1", 8053)
CTS_MGMT = ("127.0.0.1", 8055)
DIRECTORY_URL = "https://127.0.0.1:14000/dir"
PEBBLE_MGMT_URL = "https://127.0.0.1:15000"
CTS_MGMT_URL = "http://127.0.0.1:8055"

MAX_HOSTS = 254
PORT_TIMEOUT = 20.0  # seconds to wait for a started daemon's ports (2 cores, 20 hosts)
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
MARKER_ENV = "CERTFLEET_RIG_BASE"  # put in the environment of every daemon started directly

# binary -> (candidate absolute paths, Debian package)
BINARIES = {
    "pebble": (["/usr/bin/pebble"], "pebble"),
    "pebble-challtestsrv": (["/usr/bin/pebble-challtestsrv"], "pebble"),
    "sshd": (["/usr/sbin/sshd"], "openssh-server"),
    "ssh": (["/usr/bin/ssh"], "openssh-client"),
    "ssh-keygen": (["/usr/bin/ssh-keygen"], "openssh-client"),
    "nginx": (["/usr/sbin/nginx"], "nginx"),
    "apache2": (["/usr/sbin/apache2"], "apache2"),
    "openssl": (["/usr/bin/openssl"], "openssl"),
}
APACHE_MODULES = "/usr/lib/apache2/modules"

# Popen objects of daemons started by this process (so that down() in the same process,
# e.g. a pytest session, can reap them instead of leaving zombies behind)
_CHILDREN = {}


class RigError(RuntimeError):
    """A rig operation failed; the message says which log file to read."""


# --------------------------------------------------------------------------------------
# paths
# --------------------------------------------------------------------------------------

def default_base():
    return os.path.abspath(os.environ.get("CERTFLEET_RIG") or DEFAULT_BASE)


class Paths:
    def __init__(self, base=None):
        self.base = os.path.abspath(base or default_base())
        b = self.base
        self.marker = os.path.join(b, ".certfleet-rig")
        self.lock = os.path.join(b, ".lock")
        self.run = os.path.join(b, "run")
        self.logs = os.path.join(b, "logs")
        self.rig_log = os.path.join(self.logs, "rig.log")
        self.apt_log = os.path.join(self.logs, "apt.log")
        self.pebble_dir = os.path.join(b, "pebble")
        self.pebble_log = os.path.join(self.logs, "pebble.log")
        self.cts_log = os.path.join(self.logs, "challtestsrv.log")
        self.pebble_cfg = os.path.join(self.pebble_dir, "pebble-config.json")
        self.pebble_ca = os.path.join(self.pebble_dir, "ca.pem")
        self.pebble_root = os.path.join(self.pebble_dir, "root.pem")
        self.pebble_pid = os.path.join(self.run, "pebble.pid")
        self.pebble_opts = os.path.join(self.run, "pebble.opts.json")
        self.cts_pid = os.path.join(self.run, "challtestsrv.pid")
        self.ssh_dir = os.path.join(b, "ssh")
        self.ssh_key = os.path.join(self.ssh_dir, "id_ed25519")
        self.authorized_keys = os.path.join(self.ssh_dir, "authorized_keys")
        self.known_hosts = os.path.join(self.ssh_dir, "known_hosts")
        self.account_key = os.path.join(b, "account.key")
        self.hosts = os.path.join(b, "hosts")
        self.cp = os.path.join(b, "cp")
        self.inventory = os.path.join(b, "inventory.yml")
        self.ansible_cfg = os.path.join(b, "ansible.cfg")
        self.state = os.path.join(b, "rig.json")

    def host_dir(self, name):
        return os.path.join(self.hosts, name)

    def alt_root(self, i):
        return os.path.join(self.pebble_dir, "root-%d.pem" % i)


def _host_name(i):
    return "host%d" % i


def _host_ip(i):
    return "127.0.1.%d" % i


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def _binary(name, required=True):
    paths, _pkg = BINARIES[name]
    for p in paths:
        if os.access(p, os.X_OK):
            return p
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin:/bin")
    if found:
        return os.path.abspath(found)
    if required:
        raise RigError("binary %r not found (Debian package %s); run `rig.py up` as root so it can "
                       "apt-get install it" % (name, BINARIES[name][1]))
    return None


def _now():
    return time.strftime("%Y-%m-%d %H:%M:%S")


def _log(paths, msg):
    os.makedirs(paths.logs, exist_ok=True)
    with open(paths.rig_log, "a") as f:
        f.write("%s %s\n" % (_now(), msg))


def _tail(path, lines=15):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 8192))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return "(no log file)"
    return "\n".join("    | " + line for line in data.splitlines()[-lines:])


def _fail(what, *logs):
    logs = [lg for lg in logs if lg]
    msg = "%s; see %s" % (what, " and ".join(logs))
    for lg in logs:
        msg += "\n  last lines of %s:\n%s" % (lg, _tail(lg))
    raise RigError(msg)


def _run(paths, argv, what, log=None, env=None, timeout=120):
    """Run a short command, its output appended to log (default rig.log); RigError on failure."""
    log = log or paths.rig_log
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "ab") as f:
        f.write(("%s $ %s\n" % (_now(), shlex.join(argv))).encode())
        f.flush()
        try:
            rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                env=env, timeout=timeout).returncode
        except (OSError, subprocess.TimeoutExpired) as e:
            f.write(("%s\n" % e).encode())
            rc = -1
    if rc != 0:
        _fail("%s failed (exit %s): %s" % (what, rc, shlex.join(argv)), log)


def _write(path, content, mode=0o644, only_if_changed=True):
    """Atomically write text; returns True if the file changed."""
    data = content.encode() if isinstance(content, str) else content
    if only_if_changed:
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    if stat.S_IMODE(os.stat(path).st_mode) != mode:
                        os.chmod(path, mode)
                    return False
        except OSError:
            pass
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
    return True


def _mkdir(path, mode=0o755):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)


def _template(name, mapping):
    with open(os.path.join(TEMPLATES, name)) as f:
        text = f.read()
    for k, v in mapping.items():
        text = text.replace("@%s@" % k, v)
    return text


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _write_pid(path, pid):
    _write(path, "%d\n" % pid)


def _rm(path):
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _proc_stat(pid):
    """(state, ppid) from /proc/PID/stat, or None if there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rfind(")") + 2:].split()
    return fields[0], int(fields[1])


def alive(pid):
    """True if PID exists and is not a zombie (a killed daemon reparented to PID 1 lingers as a
    zombie for a while on this machine kind, and kill -0 succeeds on zombies)."""
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def _exe_name(pid):
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None
    if exe.endswith(" (deleted)"):
        exe = exe[: -len(" (deleted)")]
    return os.path.basename(exe)


def _owned(pid, exe, base):
    """Alive, running binary `exe`, and started for this base dir (cmdline or environment).
    Guards against killing an unrelated process that reuses a stale PID."""
    if not alive(pid) or _exe_name(pid) != exe:
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if (base + "/").encode() in f.read():
                return True
        with open("/proc/%d/environ" % pid, "rb") as f:
            return ("%s=%s" % (MARKER_ENV, base)).encode() in f.read().split(b"\0")
    except OSError:
        return False


def _port_open(host, port, timeout=0.5, tls=False):
    """True if host:port accepts TCP connections (tls=True: completes a TLS handshake too, so that
    Pebble does not log `TLS handshake error ... EOF` for every probe)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            if tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                ctx.wrap_socket(s, server_hostname="localhost").close()
            return True
    except ssl.SSLError:
        return True  # something TLS-ish is listening
    except OSError:
        return False


def _no_proxy_opener(context=None):
    handlers = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def _daemon_env(paths, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
    env[MARKER_ENV] = paths.base
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra or {})
    return env


def _spawn(paths, argv, log, env=None, cwd=None):
    """Start a long-running daemon in its own session, stdin from /dev/null, output to log."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "ab") as out:
        out.write(("%s certfleet rig: starting %s\n" % (_now(), shlex.join(argv))).encode())
        out.flush()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, close_fds=True, env=env or _daemon_env(paths),
                             cwd=cwd or paths.base)
    _CHILDREN[p.pid] = p
    return p.pid


@contextlib.contextmanager
def _locked(paths):
    os.makedirs(paths.base, exist_ok=True)
    with open(paths.lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------
# packages
# --------------------------------------------------------------------------------------

def ensure_packages(paths):
    """apt-get install the Debian packages whose binaries are missing (and only then)."""
    missing = sorted({pkg for name, (_c, pkg) in BINARIES.items() if not _binary(name, required=False)})
    if not missing:
        return []
    if os.geteuid() != 0:
        raise RigError("missing packages %s and not root: run `apt-get install %s` as root"
                       % (missing, " ".join(missing)))
    policy = "/usr/sbin/policy-rc.d"
    created_policy = False
    if not os.path.exists(policy):
        # keep the distro daemons from starting on 0.0.0.0 during the install
        _write(policy, "#!/bin/sh\n# created by certfleet rig.py for the duration of apt-get install\nexit 101\n",
               mode=0o755)
        created_policy = True
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        try:
            _run(paths, ["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                 "apt-get install", log=paths.apt_log, env=env, timeout=900)
        except RigError:
            _run(paths, ["apt-get", "update"], "apt-get update", log=paths.apt_log, env=env, timeout=900)
            _run(paths, ["apt-get", "install", "-y", "--no-install-recommends"] + missing,
                 "apt-get install", log=paths.apt_log, env=env, timeout=900)
    finally:
        if created_policy:
            _rm(policy)
    still = sorted({pkg for name, (_c, pkg) in BINARIES.items() if not _binary(name, required=False)})
    if still:
        _fail("packages %s installed but binaries still missing" % still, paths.apt_log)
    _log(paths, "installed packages %s" % missing)
    return missing


# --------------------------------------------------------------------------------------
# key material (openssl / ssh-keygen CLI: the system python3 has no `cryptography`)
# --------------------------------------------------------------------------------------

def _ensure_pebble_tls(paths):
    d = paths.pebble_dir
    files = [os.path.join(d, n) for n in ("ca.pem", "ca.key", "cert.pem", "key.pem")]
    if all(os.path.exists(f) for f in files):
        return False
    _mkdir(d)
    openssl = _binary("openssl")
    ext = os.path.join(d, "server.ext")
    _write(ext, "subjectAltName=DNS:localhost,DNS:pebble,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    _run(paths, [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-days", "3650", "-subj", "/CN=certfleet rig Pebble HTTPS CA",
                 "-keyout", files[1], "-out", files[0],
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign"], "Pebble TLS CA generation")
    csr = os.path.join(d, "server.csr")
    _run(paths, [openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-subj", "/CN=localhost", "-keyout", files[3], "-out", csr], "Pebble TLS key generation")
    _run(paths, [openssl, "x509", "-req", "-in", csr, "-CA", files[0], "-CAkey", files[1],
                 "-CAcreateserial", "-days", "3650", "-extfile", ext, "-out", files[2]],
         "Pebble TLS certificate signing")
    for f in (files[1], files[3]):
        os.chmod(f, 0o600)
    for f in (files[0], files[2]):
        os.chmod(f, 0o644)
    return True


def _ensure_ssh_client_key(paths):
    _mkdir(paths.ssh_dir, 0o700)
    if not (os.path.exists(paths.ssh_key) and os.path.exists(paths.ssh_key + ".pub")):
        for f in (paths.ssh_key, paths.ssh_key + ".pub"):
            _rm(f)
        _run(paths, [_binary("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", "certfleet-rig",
                     "-f", paths.ssh_key], "SSH client key generation")
    with open(paths.ssh_key + ".pub") as f:
        _write(paths.authorized_keys, f.read(), mode=0o600)


def _ensure_account_key(paths):
    if os.path.exists(paths.account_key):
        os.chmod(paths.account_key, 0o600)
        return False
    tmp = paths.account_key + ".tmp"
    _rm(tmp)
    old = os.umask(0o077)
    try:
        _run(paths, [_binary("openssl"), "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-out", tmp], "ACME account key generation")
    finally:
        os.umask(old)
    os.chmod(tmp, 0o600)
    os.replace(tmp, paths.account_key)
    return True


def _ensure_host_material(paths, i):
    """Host dir, host key, webroot, placeholder certificate and the `live` symlink."""
    h, d = _host_name(i), paths.host_dir(_host_name(i))
    _mkdir(d)
    _mkdir(os.path.join(d, "ssh"), 0o700)
    _mkdir(os.path.join(d, "webroot"))
    ssl_dir = os.path.join(d, "ssl")
    _mkdir(ssl_dir)
    key = os.path.join(d, "ssh", "ssh_host_ed25519_key")
    if not (os.path.exists(key) and os.path.exists(key + ".pub")):
        for f in (key, key + ".pub"):
            _rm(f)
        _run(paths, [_binary("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", h, "-f", key],
             "host key generation for %s" % h)
    ph = os.path.join(ssl_dir, "placeholder")
    if not (os.path.exists(os.path.join(ph, "fullchain.pem")) and os.path.exists(os.path.join(ph, "privkey.pem"))):
        _mkdir(ph)
        _run(paths, [_binary("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-days", "365", "-subj", "/CN=%s.test" % h,
                     "-addext", "subjectAltName=DNS:%s.test" % h,
                     "-addext", "basicConstraints=critical,CA:FALSE",
                     "-keyout", os.path.join(ph, "privkey.pem"), "-out", os.path.join(ph, "fullchain.pem")],
             "placeholder certificate for %s" % h)
        os.chmod(os.path.join(ph, "privkey.pem"), 0o600)
        os.chmod(os.path.join(ph, "fullchain.pem"), 0o644)
    live = os.path.join(ssl_dir, "live")
    if not os.path.lexists(live):  # never overwrite: the deploy module owns `live` afterwards
        os.symlink("placeholder", live)


# --------------------------------------------------------------------------------------
# stopping processes
# --------------------------------------------------------------------------------------

def _children_map():
    kids = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            st = _proc_stat(int(e))
            if st and st[0] not in ("Z", "X"):
                kids.setdefault(st[1], []).append(int(e))
    return kids


def _descendants(pid, kids):
    out, todo = [], list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _signal(pid, sig):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _stop_pids(pids, timeout=STOP_TIMEOUT):
    """SIGTERM all, wait (zombies count as dead), SIGKILL leftovers. Returns PIDs still alive."""
    pids = [p for p in dict.fromkeys(pids) if alive(p)]
    for p in pids:
        _signal(p, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.02)
    left = [p for p in pids if alive(p)]
    for p in left:
        _signal(p, signal.SIGKILL)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(alive(p) for p in left):
        time.sleep(0.02)
    for p in pids:  # reap our own children (importing process, e.g. pytest)
        child = _CHILDREN.pop(p, None)
        if child is not None:
            with contextlib.suppress(Exception):
                child.wait(timeout=1)
    return [p for p in left if alive(p)]


def _close_control_masters(paths):
    """Close Ansible's ControlPersist masters (they outlive playbooks by 60 s)."""
    if not os.path.isdir(paths.cp):
        return 0
    ssh = _binary("ssh", required=False) or "ssh"
    procs = []
    for name in os.listdir(paths.cp):
        sock = os.path.join(paths.cp, name)
        with contextlib.suppress(OSError):
            if stat.S_ISSOCK(os.lstat(sock).st_mode):
                procs.append(subprocess.Popen([ssh, "-O", "exit", "-o", "ControlPath=%s" % sock, "x"],
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
    closed = 0
    for p in procs:
        try:
            closed += p.wait(timeout=5) == 0
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return closed


# --------------------------------------------------------------------------------------
# Pebble and challtestsrv
# --------------------------------------------------------------------------------------

def _pebble_desired(paths, validity, nonce_reject, authz_reuse, alternate_roots):
    cfg = _template("pebble-config.json.in", {
        "PEBBLE_DIR": json.dumps(paths.pebble_dir)[1:-1],
        "VALIDITY": str(int(validity)),
    })
    env = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": str(int(nonce_reject)),
           "PEBBLE_AUTHZREUSE": str(int(authz_reuse))}
    if alternate_roots:
        env["PEBBLE_ALTERNATE_ROOTS"] = str(int(alternate_roots))
    opts = {"validity": int(validity), "nonce_reject": int(nonce_reject), "authz_reuse": int(authz_reuse),
            "alternate_roots": int(alternate_roots), "env": env,
            "config_sha256": hashlib.sha256(cfg.encode()).hexdigest()}
    return cfg, env, opts


def _pebble_pid(paths):
    pid = _read_pid(paths.pebble_pid)
    return pid if pid and _owned(pid, "pebble", paths.base) else None


def _cts_pid(paths):
    pid = _read_pid(paths.cts_pid)
    return pid if pid and _owned(pid, "pebble-challtestsrv", paths.base) else None


def _check_free(ports, what, log):
    for host, port in ports:
        if _port_open(host, port, timeout=0.3):
            raise RigError("cannot start %s: %s:%d is already in use by a process this rig did not start "
                           "(another rig base dir, or a lost PID file?); find it with `ss -ltnp 'sport = :%d'` and stop it "
                           "(log of %s: %s)" % (what, host, port, port, what, log))


def _start_cts(paths):
    _check_free([CTS_MGMT, DNS_LISTEN], "pebble-challtestsrv", paths.cts_log)
    argv = [_binary("pebble-challtestsrv"), "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
            "-dns01", "%s:%d" % DNS_LISTEN, "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-management", "%s:%d" % CTS_MGMT]
    pid = _spawn(paths, argv, paths.cts_log)
    _write_pid(paths.cts_pid, pid)
    return pid


def _start_pebble(paths, env, opts):
    _check_free([PEBBLE_LISTEN, PEBBLE_MGMT], "pebble", paths.pebble_log)
    argv = [_binary("pebble"), "-config", paths.pebble_cfg, "-dnsserver", "%s:%d" % DNS_LISTEN, "-strict=false"]
    with open(paths.pebble_log, "a") as f:
        f.write("%s certfleet rig: pebble options %s\n" % (_now(), json.dumps(opts, sort_keys=True)))
    pid = _spawn(paths, argv, paths.pebble_log, env=_daemon_env(paths, env), cwd=paths.pebble_dir)
    _write_pid(paths.pebble_pid, pid)
    _write(paths.pebble_opts, json.dumps(opts, sort_keys=True, indent=1) + "\n")
    return pid


def _https_get(paths, path):
    ctx = ssl.create_default_context(cafile=paths.pebble_ca)
    with _no_proxy_opener(ctx).open(PEBBLE_MGMT_URL + path, timeout=10) as r:
        return r.read()


def _fetch_roots(paths, alternate_roots):
    deadline = time.monotonic() + 10
    while True:
        try:
            root = _https_get(paths, "/roots/0")
            break
        except (OSError, urllib.error.URLError) as e:
            if time.monotonic() > deadline:
                _fail("cannot fetch Pebble's root from %s/roots/0: %s" % (PEBBLE_MGMT_URL, e), paths.pebble_log)
            time.sleep(0.1)
    _write(paths.pebble_root, root)
    for i in range(1, int(alternate_roots) + 1):
        try:
            _write(paths.alt_root(i), _https_get(paths, "/roots/%d" % i))
        except (OSError, urllib.error.URLError) as e:
            _fail("cannot fetch Pebble's alternate root %s/roots/%d: %s" % (PEBBLE_MGMT_URL, i, e), paths.pebble_log)
    i = int(alternate_roots) + 1
    while os.path.exists(paths.alt_root(i)):  # stale roots of an earlier Pebble with more alternates
        _rm(paths.alt_root(i))
        i += 1


def _cts_post(paths, endpoint, payload):
    req = urllib.request.Request(CTS_MGMT_URL + endpoint, data=json.dumps(payload).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with _no_proxy_opener().open(req, timeout=10) as r:
            r.read()
    except (OSError, urllib.error.URLError) as e:
        _fail("challtestsrv %s %s failed: %s (is the rig up?)" % (endpoint, json.dumps(payload), e), paths.cts_log)


def _set_dns(paths, name, ips):
    name = name.rstrip(".")
    _cts_post(paths, "/clear-a", {"host": name})
    if ips:
        _cts_post(paths, "/add-a", {"host": name, "addresses": list(ips)})


# --------------------------------------------------------------------------------------
# hosts
# --------------------------------------------------------------------------------------

def _nginx_cmd(paths, h):
    d = paths.host_dir(h)
    return [_binary("nginx"), "-p", os.path.join(d, "nginx") + "/", "-c", "conf/nginx.conf",
            "-e", os.path.join(d, "nginx", "logs", "error.log")]


def _apache_cmd(paths, h):
    d = paths.host_dir(h)
    return [_binary("apache2"), "-d", os.path.join(d, "apache"), "-f", "conf/httpd.conf"]


def _web_info(paths, h, kind):
    d = paths.host_dir(h)
    if kind == "nginx":
        return {"server_pidfile": os.path.join(d, "nginx", "logs", "nginx.pid"),
                "log": os.path.join(d, "nginx", "logs", "error.log"),
                "start": _nginx_cmd(paths, h),
                "test": _nginx_cmd(paths, h)[:1] + ["-t"] + _nginx_cmd(paths, h)[1:],
                "reload": _nginx_cmd(paths, h) + ["-s", "reload"]}
    return {"server_pidfile": os.path.join(d, "apache", "run", "httpd.pid"),
            "log": os.path.join(d, "apache", "logs", "error.log"),
            "start": _apache_cmd(paths, h) + ["-k", "start"],
            "test": _apache_cmd(paths, h) + ["-t"],
            "reload": _apache_cmd(paths, h) + ["-k", "graceful"]}


def _run_pidfile(paths, kind, h):
    return os.path.join(paths.run, "%s-%s.pid" % (kind, h))


def _web_pid(paths, h, kind):
    """PID of the running nginx/Apache master of host h, from the server's pid file (authoritative)
    or the rig's copy; None if not running."""
    exe = "nginx" if kind == "nginx" else "apache2"
    for f in (_web_info(paths, h, kind)["server_pidfile"], _run_pidfile(paths, kind, h)):
        pid = _read_pid(f)
        if pid and _owned(pid, exe, paths.base):
            return pid
    return None


def _sshd_pid(paths, h):
    for f in (_run_pidfile(paths, "sshd", h), os.path.join(paths.host_dir(h), "ssh", "sshd.pid")):
        pid = _read_pid(f)
        if pid and _owned(pid, "sshd", paths.base):
            return pid
    return None


def _known_host_indexes(paths):
    out = []
    if os.path.isdir(paths.hosts):
        for n in os.listdir(paths.hosts):
            if n.startswith("host") and n[4:].isdigit():
                out.append(int(n[4:]))
    return sorted(out)


def _render_host(paths, i, kind, deny):
    """Write the host's sshd and web server configs; returns (sshd_changed, web_changed)."""
    h, ip, d = _host_name(i), _host_ip(i), paths.host_dir(_host_name(i))
    m = {"H": h, "IP": ip, "D": d, "BASE": paths.base}
    sshd_changed = _write(os.path.join(d, "ssh", "sshd_config"), _template("sshd_config.in", m))
    if kind == "nginx":
        for sub in ("conf", "conf.d", "logs", "tmp"):
            _mkdir(os.path.join(d, "nginx", sub))
        m["DENY_DOTFILES"] = _template("nginx-deny-dotfiles.in", m).rstrip("\n") if deny else ""
        web_changed = _write(os.path.join(d, "nginx", "conf", "nginx.conf"), _template("nginx.conf.in", m))
    else:
        for sub in ("conf", "conf.d", "logs", "run", "htdocs"):
            _mkdir(os.path.join(d, "apache", sub))
        _write(os.path.join(d, "apache", "htdocs", "http.txt"), "%s http\n" % h)
        _write(os.path.join(d, "apache", "htdocs", "https.txt"), "%s https\n" % h)
        m["DENY_DOTFILES"] = _template("httpd-deny-dotfiles.in", m).rstrip("\n") if deny else ""
        web_changed = _write(os.path.join(d, "apache", "conf", "httpd.conf"), _template("httpd.conf.in", m))
    return sshd_changed, web_changed


def _stop_host_web(paths, h, kind):
    pid = _web_pid(paths, h, kind)
    if pid:
        left = _stop_pids([pid])
        if left:
            _fail("could not stop %s of %s (pid %d)" % (kind, h, pid), _web_info(paths, h, kind)["log"])
    _rm(_run_pidfile(paths, kind, h))
    return pid


def _sshd_tree(pid):
    """The sshd listener plus its per-connection sshd processes and their descendants
    (the sessions escape the listener's process group, and outlive it otherwise)."""
    return _descendants(pid, _children_map()) + [pid]


# --------------------------------------------------------------------------------------
# inventory / ansible.cfg
# --------------------------------------------------------------------------------------

def _y(v):
    """A YAML scalar or flow collection; JSON is valid YAML."""
    return json.dumps(v)


def _write_inventory(paths, n, kinds):
    common = "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % shlex.quote(paths.known_hosts)
    resolve = {"%s.test" % _host_name(i): _host_ip(i) for i in range(1, n + 1)}
    lines = [
        "# generated by tests/rig/rig.py: do not edit (rewritten at every `rig.py up`)",
        "all:",
        "  vars:",
        "    ansible_user: root",
        "    ansible_ssh_private_key_file: %s" % _y(paths.ssh_key),
        "    ansible_ssh_common_args: %s" % _y(common),
        "    ansible_python_interpreter: /usr/bin/python3",
        "    certificate_acme_directory: %s" % _y(DIRECTORY_URL),
        "    certificate_acme_ca_bundle: %s" % _y(paths.pebble_ca),
        "    certificate_verify_ca_bundle: %s" % _y(paths.pebble_root),
        "    certificate_account_key_path: %s" % _y(paths.account_key),
        "    certificate_acme_terms_agreed: true",
        "    certificate_account_email: ops@example.org",
        "    certificate_resolve: %s" % _y(resolve),
        "  children:",
        "    webservers:",
        "      hosts:" if n else "      hosts: {}",
    ]
    for i in range(1, n + 1):
        h, d = _host_name(i), paths.host_dir(_host_name(i))
        info = _web_info(paths, h, kinds[i])
        conf_d = os.path.join(d, kinds[i] if kinds[i] == "nginx" else "apache", "conf.d")
        lines += [
            "        %s:" % h,
            "          ansible_host: %s" % _y(_host_ip(i)),
            "          certificate_domains: %s" % _y(["%s.test" % h]),
            "          certificate_server: %s" % kinds[i],
            "          certificate_webroot: %s" % _y(os.path.join(d, "webroot")),
            "          certificate_dir: %s" % _y(os.path.join(d, "ssl")),
            "          certificate_test_command: %s" % _y(info["test"]),
            "          certificate_reload_command: %s" % _y(info["reload"]),
            "          rig_host_dir: %s" % _y(d),
            "          rig_conf_dir: %s" % _y(conf_d),
        ]
    _write(paths.inventory, "\n".join(lines) + "\n")


def _write_ansible_cfg(paths):
    collections = os.path.abspath(os.environ.get("CERTFLEET_COLLECTIONS") or DEFAULT_COLLECTIONS)
    _write(paths.ansible_cfg, "\n".join([
        "# generated by tests/rig/rig.py",
        "[defaults]",
        "inventory = %s" % paths.inventory,
        "host_key_checking = True",
        "forks = 20",
        "interpreter_python = /usr/bin/python3",
        "gathering = explicit",
        "collections_path = %s" % collections,
        "retry_files_enabled = False",
        "",
        "[ssh_connection]",
        "pipelining = True",
        "control_path_dir = %s" % paths.cp,
        "",
    ]))


def _write_known_hosts(paths):
    lines = []
    for i in _known_host_indexes(paths):
        pub = os.path.join(paths.host_dir(_host_name(i)), "ssh", "ssh_host_ed25519_key.pub")
        with contextlib.suppress(OSError), open(pub) as f:
            typ, key = f.read().split()[:2]
            lines.append("%s,%s.test %s %s" % (_host_ip(i), _host_name(i), typ, key))
    _write(paths.known_hosts, "\n".join(lines) + ("\n" if lines else ""))


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------

def _wait_ports(paths, checks, timeout=PORT_TIMEOUT):
    """checks: list of (host, port, pid or None, description, [logs]). Waits until every port accepts
    TCP connections; fails early, naming the logs, if the daemon dies."""
    pending = list(checks)
    deadline = time.monotonic() + timeout
    while pending:
        still = []
        for c in pending:
            host, port, pid, what, logs = c
            if _port_open(host, port, timeout=0.2, tls=(what == "pebble")):
                continue
            if pid is not None and not alive(pid):
                _fail("%s (pid %d) died before %s:%d accepted connections" % (what, pid, host, port), *logs)
            still.append(c)
        pending = still
        if pending:
            if time.monotonic() > deadline:
                host, port, pid, what, logs = pending[0]
                _fail("%s: %s:%d did not accept connections within %.0f s" % (what, host, port, timeout), *logs)
            time.sleep(0.03)


def up(hosts=3, apache=None, deny_dotfiles=(), validity=DEFAULT_VALIDITY, nonce_reject=0, authz_reuse=0,
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
    with _locked(paths):
        for d in (paths.run, paths.logs, paths.hosts, paths.cp):
            _mkdir(d)
        _write(paths.marker, "certfleet.tls test rig base dir (tests/rig/rig.py); `rig.py clean` deletes it\n")
        _log(paths, "up hosts=%d apache=%s deny=%s validity=%s nonce_reject=%s authz_reuse=%s alt_roots=%s"
             % (n, apache, deny, validity, nonce_reject, authz_reuse, alternate_roots))
        installed = ensure_packages(paths)
        _ensure_pebble_tls(paths)
        _ensure_ssh_client_key(paths)
        _ensure_account_key(paths)
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

        checks = []
        # -- challtestsrv
        cts = _cts_pid(paths)
        if not cts:
            cts = _start_cts(paths)
            started.append("challtestsrv")
        checks.append((CTS_MGMT[0], CTS_MGMT[1], cts, "pebble-challtestsrv", [paths.cts_log]))

        # -- pebble
        cfg, env, opts = _pebble_desired(paths, validity, nonce_reject, authz_reuse, alternate_roots)
        _write(paths.pebble_cfg, cfg)
        peb = _pebble_pid(paths)
        if peb:
            try:
                with open(paths.pebble_opts) as f:
                    running = json.load(f)
            except (OSError, ValueError):
                running = None
            if running != opts:
                _log(paths, "pebble options changed (%s -> %s): restarting pebble" % (running, opts))
                if _stop_pids([peb]):
                    _fail("could not stop pebble (pid %d)" % peb, paths.pebble_log)
                peb = None
                # wait for the old listener's ports to be released
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and (_port_open(*PEBBLE_LISTEN) or _port_open(*PEBBLE_MGMT)):
                    time.sleep(0.05)
        if not peb:
            peb = _start_pebble(paths, env, opts)
            started.append("pebble")
        for addr in (PEBBLE_LISTEN, PEBBLE_MGMT):
            checks.append((addr[0], addr[1], peb, "pebble", [paths.pebble_log]))

        # -- hosts
        kinds = {i: ("apache" if i in apache else "nginx") for i in range(1, n + 1)}
        web_starts = []
        for i in range(1, n + 1):
            h, ip, kind = _host_name(i), _host_ip(i), kinds[i]
            _ensure_host_material(paths, i)
            sshd_changed, web_changed = _render_host(paths, i, kind, i in deny)
            sshd_log = os.path.join(paths.logs, "sshd-%s.log" % h)

            pid = _sshd_pid(paths, h)
            if pid and sshd_changed:
                _stop_pids(_sshd_tree(pid))
                pid = None
            if not pid:
                _check_free([(ip, 22)], "sshd of %s" % h, sshd_log)
                argv = [_binary("sshd"), "-D", "-f", os.path.join(paths.host_dir(h), "ssh", "sshd_config"),
                        "-E", sshd_log]
                pid = _spawn(paths, argv, sshd_log)
                _write_pid(_run_pidfile(paths, "sshd", h), pid)
                started.append("%s/sshd" % h)
            checks.append((ip, 22, pid, "sshd of %s" % h, [sshd_log]))

            other = "nginx" if kind == "apache" else "apache"
            if _web_pid(paths, h, other):
                _stop_host_web(paths, h, other)
            info = _web_info(paths, h, kind)
            wpid = _web_pid(paths, h, kind)
            if wpid and web_changed:
                _stop_host_web(paths, h, kind)
                wpid = None
            if wpid:
                _write_pid(_run_pidfile(paths, kind, h), wpid)
                for port in (80, 443):
                    checks.append((ip, port, wpid, "%s of %s" % (kind, h), [info["log"]]))
            else:
                _rm(info["server_pidfile"])
                _check_free([(ip, 80), (ip, 443)], "%s of %s" % (kind, h), info["log"])
                start_log = os.path.join(paths.logs, "%s-%s-start.log" % (kind, h))
                with open(start_log, "ab") as out:
                    out.write(("%s $ %s\n" % (_now(), shlex.join(info["start"]))).encode())
                    out.flush()
                    # nginx / apache2 -k start daemonize: this process exits once the master is forked
                    p = subprocess.Popen(info["start"], stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env=_daemon_env(paths), cwd=paths.host_dir(h))
                web_starts.append((i, kind, p, start_log))
                started.append("%s/%s" % (h, kind))

        for i, kind, p, start_log in web_starts:
            h, ip = _host_name(i), _host_ip(i)
            info = _web_info(paths, h, kind)
            try:
                rc = p.wait(timeout=PORT_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = "timeout"
            if rc != 0:
                _fail("%s of %s failed to start (exit %s): %s" % (kind, h, rc, shlex.join(info["start"])),
                      start_log, info["log"])
            deadline = time.monotonic() + PORT_TIMEOUT
            while True:
                wpid = _web_pid(paths, h, kind)
                if wpid:
                    break
                if time.monotonic() > deadline:
                    _fail("%s of %s started but wrote no pid file %s" % (kind, h, info["server_pidfile"]),
                          info["log"], start_log)
                time.sleep(0.02)
            _write_pid(_run_pidfile(paths, kind, h), wpid)
            for port in (80, 443):
                checks.append((ip, port, wpid, "%s of %s" % (kind, h), [info["log"], start_log]))

        _wait_ports(paths, checks)

        # -- DNS (challtestsrv keeps records in memory; /add-a appends, so clear first)
        for i in range(1, n + 1):
            _set_dns(paths, "%s.test" % _host_name(i), [_host_ip(i)])
        # -- Pebble's roots (regenerated at every Pebble start)
        _fetch_roots(paths, alternate_roots)
        # -- client side files
        _write_known_hosts(paths)
        _write_inventory(paths, n, kinds)
        _write_ansible_cfg(paths)
        _write(paths.state, json.dumps({"hosts": n, "kinds": {_host_name(i): kinds[i] for i in kinds},
                                        "deny_dotfiles": deny, "pebble": opts}, indent=1, sort_keys=True) + "\n")

    summary = {
        "base": paths.base,
        "hosts": n,
        "host_names": [_host_name(i) for i in range(1, n + 1)],
        "servers": {_host_name(i): kinds[i] for i in range(1, n + 1)},
        "deny_dotfiles": [_host_name(i) for i in deny],
        "inventory": paths.inventory,
        "ansible_cfg": paths.ansible_cfg,
        "pebble_directory": DIRECTORY_URL,
        "pebble_ca": paths.pebble_ca,
        "pebble_root": paths.pebble_root,
        "pebble_alternate_roots": [paths.alt_root(i) for i in range(1, int(alternate_roots) + 1)],
        "pebble_log": paths.pebble_log,
        "pebble_options": {k: opts[k] for k in ("validity", "nonce_reject", "authz_reuse", "alternate_roots")},
        "account_key": paths.account_key,
        "ssh_key": paths.ssh_key,
        "known_hosts": paths.known_hosts,
        "dns_server": "%s:%d" % DNS_LISTEN,
        "started": started,
        "installed_packages": installed,
        "seconds": round(time.monotonic() - t0, 2),
    }
    _log(paths, "up done in %.2fs, started %s" % (summary["seconds"], started))
    return summary


def _all_rig_pids(paths):
    """(description, [pids]) for everything of this base dir that is alive."""
    out = []
    for i in _known_host_indexes(paths):
        h = _host_name(i)
        pid = _sshd_pid(paths, h)
        if pid:
            out.append(("%s/sshd" % h, _sshd_tree(pid)))
        for kind in ("nginx", "apache"):
            wpid = _web_pid(paths, h, kind)
            if wpid:
                out.append(("%s/%s" % (h, kind), [wpid]))
    peb = _pebble_pid(paths)
    if peb:
        out.append(("pebble", [peb]))
    cts = _cts_pid(paths)
    if cts:
        out.append(("challtestsrv", [cts]))
    return out


def down(base=None):
    """Stop exactly the processes this rig started (by PID), close Ansible ControlPersist
    masters in <base>/cp. Idempotent; leaves all files in place."""
    t0 = time.monotonic()
    paths = Paths(base)
    if not os.path.isdir(paths.base):
        return {"base": paths.base, "stopped": [], "control_masters_closed": 0, "seconds": 0.0}
    with _locked(paths):
        closed = _close_control_masters(paths)
        victims = _all_rig_pids(paths)
        left = _stop_pids([p for _w, pids in victims for p in pids])
        if left:
            _fail("processes %s survived SIGKILL" % left, paths.rig_log)
        if os.path.isdir(paths.run):
            for f in os.listdir(paths.run):
                if f.endswith(".pid"):
                    _rm(os.path.join(paths.run, f))
        _rm(paths.pebble_opts)
        stopped = [w for w, _p in victims]
        _log(paths, "down: stopped %s, closed %d control masters" % (stopped, closed))
    return {"base": paths.base, "stopped": stopped, "control_masters_closed": closed,
            "seconds": round(time.monotonic() - t0, 2)}


def status(base=None):
    """What is alive, as a dict."""
    paths = Paths(base)

    def proc(pid):
        return {"pid": pid, "alive": bool(pid)}

    out = {"base": paths.base, "exists": os.path.isdir(paths.base),
           "challtestsrv": proc(_cts_pid(paths)) if os.path.isdir(paths.base) else proc(None),
           "pebble": proc(_pebble_pid(paths)) if os.path.isdir(paths.base) else proc(None),
           "hosts": {}}
    try:
        with open(paths.pebble_opts) as f:
            o = json.load(f)
        out["pebble"]["options"] = {k: o[k] for k in ("validity", "nonce_reject", "authz_reuse", "alternate_roots")}
    except (OSError, ValueError, KeyError):
        pass
    try:
        with open(paths.state) as f:
            st = json.load(f)
        out["inventory_hosts"] = st.get("hosts")
    except (OSError, ValueError):
        st = {}
    for i in _known_host_indexes(paths):
        h = _host_name(i)
        entry = {"ip": _host_ip(i), "sshd": proc(_sshd_pid(paths, h))}
        for kind in ("nginx", "apache"):
            wpid = _web_pid(paths, h, kind)
            if wpid:
                entry["web"] = dict(proc(wpid), kind=kind)
        if "web" not in entry:
            entry["web"] = dict(proc(None), kind=st.get("kinds", {}).get(h))
        out["hosts"][h] = entry
    everything = [out["challtestsrv"], out["pebble"]] + [e[k] for e in out["hosts"].values() for k in ("sshd", "web")]
    out["all_alive"] = all(x["alive"] for x in everything)
    out["any_alive"] = any(x["alive"] for x in everything)
    return out


def set_dns(name, ips, base=None):
    """Replace the A records of `name` in the mock DNS (all `ips`; an empty list clears them).
    Records live in challtestsrv's memory: they are gone after `down`."""
    paths = Paths(base)
    _set_dns(paths, name, list(ips))
    return {"name": name.rstrip("."), "addresses": list(ips)}


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


def reset_hosts(base=None):
    """Put every host back to its first state: `live` -> placeholder, no releases, no staged key,
    no challenge files. Tests call it so that each starts from plain, self-signed HTTPS."""
    paths = Paths(base)
    hosts_dir = os.path.join(paths.base, "hosts")
    done = []
    for h in sorted(os.listdir(hosts_dir)) if os.path.isdir(hosts_dir) else []:
        d = os.path.join(hosts_dir, h)
        ssl_dir = os.path.join(d, "ssl")
        live = os.path.join(ssl_dir, "live")
        if os.path.lexists(live):
            os.unlink(live)
        os.symlink("placeholder", live)
        for sub in ("releases", "next"):
            shutil.rmtree(os.path.join(ssl_dir, sub), ignore_errors=True)
        shutil.rmtree(os.path.join(d, "webroot", ".well-known"), ignore_errors=True)
        done.append(h)
    # Reload the running servers so that what they *serve* is the placeholder again, and wait for it.
    kinds = {}
    try:
        with open(paths.state) as f:
            kinds = json.load(f).get("kinds", {})
    except (OSError, ValueError):
        pass
    for h, kind in sorted(kinds.items()):
        if h not in done or not kind or not _web_pid(paths, h, kind):
            continue
        _run(paths, _web_info(paths, h, kind)["reload"], "reload %s" % h)
        with open(os.path.join(paths.host_dir(h), "ssl", "placeholder", "fullchain.pem")) as f:
            want = ssl.PEM_cert_to_DER_cert(f.read())
        deadline = time.monotonic() + 10
        while _served_der(_host_ip(int(h[4:]))) != want:
            if time.monotonic() > deadline:
                _fail("%s still serves another certificate after reload" % h, _web_info(paths, h, kind)["log"])
            time.sleep(0.05)
    return {"base": paths.base, "reset": done}


def _served_der(ip):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((ip, 443), timeout=2) as sock:
            with context.wrap_socket(sock) as tls:
                return tls.getpeercert(binary_form=True)
    except OSError:
        return None


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


# --------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(prog="rig.py", description=__doc__.split("\n\n")[0])
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
        else:
            res = set_dns(a.name, a.ips, base=a.base)
    except RigError as e:
        print("rig.py %s: error: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    print(json.dumps(res, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
