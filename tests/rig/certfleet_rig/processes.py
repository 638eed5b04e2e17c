"""Processes the rig owns: start them, find them again by PID, wait for their ports, stop them.

The rig never finds a process by name and never kills by name. Every daemon it starts is recorded in a
PID file under <base>/run/, and a recorded PID counts only while it is *owned*: alive (not a zombie),
running the expected binary, and started for this base dir (the base dir is in its command line, or
CERTFLEET_RIG_BASE=<base> in its environment). A stale PID file that names an unrelated process that
reused the PID is therefore ignored, never signalled.

Adding a service (a name server, an OCSP responder, ...) is one module built on OwnedProcess:

    # certfleet_rig/nameserver.py
    def named(paths):
        return OwnedProcess(paths, "named", exe="named", ports=[("127.0.0.1", PORT)])

    def ensure_named(paths, started):
        changed = write(<base>/named/named.conf, template("named.conf.in", {...}))
        proc = named(paths)
        pid = proc.pid()
        if pid and changed:
            proc.stop()
            pid = None
        if not pid:
            pid = proc.start([binary("named"), "-g", "-c", conf])   # -g: stays in the foreground
            started.append(proc.label)
        return proc.checks(pid)                                     # up() waits on these ports

then add its binary to packages.BINARIES, call ensure_named() from api.up(), and add named(paths) to
api.services() so that down() stops it and status() reports it. run/named.pid and logs/named.log follow
from the name; tests/rig/README.md ("Adding a service") has the whole list. The daemon must stay in the
foreground (it is our child until down()). One that daemonises itself writes its own PID file: see
hosts.py for nginx and Apache.
"""

import collections
import contextlib
import fcntl
import os
import shlex
import signal
import socket
import ssl
import subprocess
import time

from .errors import RigError, fail
from .files import now, read_pid, write_pid

PORT_TIMEOUT = 20.0  # seconds to wait for a started daemon's ports (2 cores, 20 hosts)
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
MARKER_ENV = "CERTFLEET_RIG_BASE"  # put in the environment of every daemon started directly

# Popen objects of daemons started by this process (so that down() in the same process,
# e.g. a pytest session, can reap them instead of leaving zombies behind)
_CHILDREN = {}

# One port that up() waits for: `tls` completes a handshake (see port_open), `logs` are named on failure.
PortCheck = collections.namedtuple("PortCheck", "host port pid what logs tls", defaults=(False,))


# --------------------------------------------------------------------------------------
# short commands
# --------------------------------------------------------------------------------------

def run(paths, argv, what, log=None, env=None, timeout=120):
    """Run a short command, its output appended to log (default rig.log); RigError on failure."""
    log = log or paths.rig_log
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "ab") as f:
        f.write(("%s $ %s\n" % (now(), shlex.join(argv))).encode())
        f.flush()
        try:
            rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                                env=env, timeout=timeout, check=False).returncode
        except (OSError, subprocess.TimeoutExpired) as e:
            f.write(("%s\n" % e).encode())
            rc = -1
    if rc != 0:
        fail("%s failed (exit %s): %s" % (what, rc, shlex.join(argv)), log)


# --------------------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------------------

def proc_stat(pid):
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
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def exe_name(pid):
    try:
        exe = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None
    if exe.endswith(" (deleted)"):
        exe = exe[: -len(" (deleted)")]
    return os.path.basename(exe)


def owned(pid, exe, base):
    """Alive, running binary `exe`, and started for this base dir (cmdline or environment).
    Guards against killing an unrelated process that reuses a stale PID."""
    if not alive(pid) or exe_name(pid) != exe:
        return False
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            if (base + "/").encode() in f.read():
                return True
        with open("/proc/%d/environ" % pid, "rb") as f:
            return ("%s=%s" % (MARKER_ENV, base)).encode() in f.read().split(b"\0")
    except OSError:
        return False


def children_map():
    kids = {}
    for e in os.listdir("/proc"):
        if e.isdigit():
            st = proc_stat(int(e))
            if st and st[0] not in ("Z", "X"):
                kids.setdefault(st[1], []).append(int(e))
    return kids


def descendants(pid, kids):
    out, todo = [], list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


# --------------------------------------------------------------------------------------
# ports
# --------------------------------------------------------------------------------------

def port_open(host, port, timeout=0.5, tls=False):
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


def check_free(ports, what, log):
    for host, port in ports:
        if port_open(host, port, timeout=0.3):
            raise RigError("cannot start %s: %s:%d is already in use by a process this rig did not start "
                           "(another rig base dir, or a lost PID file?); find it with `ss -ltnp 'sport = :%d'` "
                           "and stop it (log of %s: %s)" % (what, host, port, port, what, log))


def wait_ports(checks, timeout=PORT_TIMEOUT):
    """checks: PortChecks. Waits until every port accepts TCP connections; fails early, naming the
    logs, if the daemon dies."""
    pending = [PortCheck(*c) for c in checks]
    deadline = time.monotonic() + timeout
    while pending:
        still = []
        for c in pending:
            if port_open(c.host, c.port, timeout=0.2, tls=c.tls):
                continue
            if c.pid is not None and not alive(c.pid):
                fail("%s (pid %d) died before %s:%d accepted connections" % (c.what, c.pid, c.host, c.port), *c.logs)
            still.append(c)
        pending = still
        if pending:
            if time.monotonic() > deadline:
                c = pending[0]
                fail("%s: %s:%d did not accept connections within %.0f s" % (c.what, c.host, c.port, timeout),
                     *c.logs)
            time.sleep(0.03)


# --------------------------------------------------------------------------------------
# starting and stopping
# --------------------------------------------------------------------------------------

def daemon_env(paths, extra=None):
    """The environment of a daemon: ours without PEBBLE_*, plus the base-dir marker and `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
    env[MARKER_ENV] = paths.base
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra or {})
    return env


def spawn(paths, argv, log, env=None, cwd=None):
    """Start a long-running daemon in its own session, stdin from /dev/null, output to log."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "ab") as out:
        out.write(("%s certfleet rig: starting %s\n" % (now(), shlex.join(argv))).encode())
        out.flush()
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, close_fds=True, env=env or daemon_env(paths),
                             cwd=cwd or paths.base)
    _CHILDREN[p.pid] = p
    return p.pid


def send_signal(pid, sig):
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def stop_pids(pids, timeout=STOP_TIMEOUT):
    """SIGTERM all, wait (zombies count as dead), SIGKILL leftovers. Returns PIDs still alive."""
    pids = [p for p in dict.fromkeys(pids) if alive(p)]
    for p in pids:
        send_signal(p, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.02)
    left = [p for p in pids if alive(p)]
    for p in left:
        send_signal(p, signal.SIGKILL)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and any(alive(p) for p in left):
        time.sleep(0.02)
    for p in pids:  # reap our own children (importing process, e.g. pytest)
        child = _CHILDREN.pop(p, None)
        if child is not None:
            with contextlib.suppress(Exception):
                child.wait(timeout=1)
    return [p for p in left if alive(p)]


@contextlib.contextmanager
def locked(paths):
    """Hold <base>/.lock (flock) for one rig operation."""
    os.makedirs(paths.base, exist_ok=True)
    with open(paths.lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# --------------------------------------------------------------------------------------
# the pattern for one owned daemon
# --------------------------------------------------------------------------------------

class OwnedProcess:
    """One daemon of the rig, known by the PID file the rig wrote when it started it.

    name      what the rig calls it: run/<name>.pid and logs/<name>.log by default
    label     its entry in the "started" list of `up` and the "stopped" list of `down` (default: name)
    exe       basename of the binary (/proc/PID/exe), part of the ownership check
    what      how error messages name it (default: name)
    ports     (host, port) pairs it listens on: they must be free before start
    ready     the ports up() waits for after a start (default: ports); tls=True completes a TLS
              handshake on them instead of closing a bare TCP connection
    pidfiles  the files to read its PID from, in order (default: [pidfile]); e.g. the daemon's own
              PidFile as well as the rig's record
    tree      stop its descendants too (sshd's per-connection sessions leave its process group)
    """

    def __init__(self, paths, name, exe, label=None, what=None, ports=(), ready=None, tls=False, log=None,
                 pidfile=None, pidfiles=None, tree=False):
        self.paths = paths
        self.name = name
        self.label = label or name
        self.exe = exe
        self.what = what or name
        self.ports = list(ports)
        self.ready = list(self.ports if ready is None else ready)
        self.tls = tls
        self.log = log or paths.log_file(name)
        self.pidfile = pidfile or paths.pid_file(name)
        self.pidfiles = list(pidfiles or [self.pidfile])
        self.tree = tree

    def pid(self):
        """The PID if the process is running and ours, else None."""
        for f in self.pidfiles:
            pid = read_pid(f)
            if pid and owned(pid, self.exe, self.paths.base):
                return pid
        return None

    def pids(self, pid=None):
        """What stopping it must signal: the process (and its descendants if `tree`); [] if not running."""
        pid = pid or self.pid()
        if not pid:
            return []
        return (descendants(pid, children_map()) if self.tree else []) + [pid]

    def start(self, argv, env=None, cwd=None):
        """Start argv in the foreground of its own session (ports must be free); record and return its PID."""
        self.check_free()
        return self.spawn(argv, env=env, cwd=cwd)

    def check_free(self):
        """RigError if one of its ports is taken by a process the rig did not start."""
        check_free(self.ports, self.what, self.log)

    def spawn(self, argv, env=None, cwd=None):
        """start() without the port check: spawn argv, record and return its PID."""
        pid = spawn(self.paths, argv, self.log, env=env, cwd=cwd)
        write_pid(self.pidfile, pid)
        return pid

    def record(self, pid):
        """Record a PID found elsewhere (a daemon's own PID file) in the rig's PID file."""
        write_pid(self.pidfile, pid)

    def stop(self):
        """SIGTERM, then SIGKILL; returns the PIDs that survived (empty when it is stopped)."""
        return stop_pids(self.pids())

    def checks(self, pid, logs=None):
        """PortChecks for up() to wait on after a start (or to confirm a running process)."""
        return [PortCheck(host, port, pid, self.what, list(logs or [self.log]), self.tls) for host, port in self.ready]

    def status(self):
        pid = self.pid()
        return {"pid": pid, "alive": bool(pid)}
