"""The managed hosts: per host N, an sshd on 127.0.1.N:22 and nginx or Apache on 127.0.1.N:80 and :443.

Each host has its own directory <base>/hosts/hostN/ (ssh/, webroot/, ssl/, nginx/ or apache/). sshd runs
in the foreground and is an OwnedProcess like Pebble. nginx and `apache2 -k start` daemonise: the rig
reads the master's PID from the server's own PID file and keeps a copy in run/<kind>-hostN.pid.
"""

import json
import os
import shlex
import shutil
import socket
import ssl
import subprocess
import time

from .errors import fail
from .files import mkdir, now, rm, template, write
from .packages import binary
from .paths import Paths, host_ip, host_name, known_host_indexes
from .keymaterial import ensure_host_material
from .processes import PORT_TIMEOUT, OwnedProcess, daemon_env, run, stop_pids

APACHE_MODULES = "/usr/lib/apache2/modules"
WEB_SERVERS = ("nginx", "apache")


# --------------------------------------------------------------------------------------
# commands and processes of one host
# --------------------------------------------------------------------------------------

def nginx_cmd(paths, h):
    d = paths.host_dir(h)
    return [binary("nginx"), "-p", os.path.join(d, "nginx") + "/", "-c", "conf/nginx.conf",
            "-e", os.path.join(d, "nginx", "logs", "error.log")]


def apache_cmd(paths, h):
    d = paths.host_dir(h)
    return [binary("apache2"), "-d", os.path.join(d, "apache"), "-f", "conf/httpd.conf"]


def web_info(paths, h, kind):
    """The web server of host h: its own PID file, error log, and start/test/reload argv."""
    d = paths.host_dir(h)
    if kind == "nginx":
        return {"server_pidfile": os.path.join(d, "nginx", "logs", "nginx.pid"),
                "log": os.path.join(d, "nginx", "logs", "error.log"),
                "start": nginx_cmd(paths, h),
                "test": nginx_cmd(paths, h)[:1] + ["-t"] + nginx_cmd(paths, h)[1:],
                "reload": nginx_cmd(paths, h) + ["-s", "reload"]}
    return {"server_pidfile": os.path.join(d, "apache", "run", "httpd.pid"),
            "log": os.path.join(d, "apache", "logs", "error.log"),
            "start": apache_cmd(paths, h) + ["-k", "start"],
            "test": apache_cmd(paths, h) + ["-t"],
            "reload": apache_cmd(paths, h) + ["-k", "graceful"]}


def sshd(paths, i):
    """sshd of host i; its sessions escape the listener's process group, so stopping takes the tree."""
    h = host_name(i)
    return OwnedProcess(paths, "sshd-%s" % h, exe="sshd", label="%s/sshd" % h, what="sshd of %s" % h,
                        ports=[(host_ip(i), 22)],
                        pidfiles=[paths.pid_file("sshd-%s" % h), os.path.join(paths.host_dir(h), "ssh", "sshd.pid")],
                        tree=True)


def web(paths, i, kind):
    """nginx or Apache of host i: the server's own PID file is authoritative, the rig's copy second."""
    h = host_name(i)
    info = web_info(paths, h, kind)
    name = "%s-%s" % (kind, h)
    return OwnedProcess(paths, name, exe="nginx" if kind == "nginx" else "apache2", label="%s/%s" % (h, kind),
                        what="%s of %s" % (kind, h), ports=[(host_ip(i), 80), (host_ip(i), 443)], log=info["log"],
                        pidfiles=[info["server_pidfile"], paths.pid_file(name)])


def _index(h):
    return int(h[4:])


def web_pid(paths, h, kind):
    """PID of the running nginx/Apache master of host h, or None if not running."""
    return web(paths, _index(h), kind).pid()


def stop_web(paths, i, kind):
    proc = web(paths, i, kind)
    pid = proc.pid()
    if pid:
        if stop_pids([pid]):
            fail("could not stop %s (pid %d)" % (proc.what, pid), proc.log)
    rm(proc.pidfile)
    return pid


# --------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------

def render_host(paths, i, kind, deny):
    """Write the host's sshd and web server configs; returns (sshd_changed, web_changed)."""
    h, ip, d = host_name(i), host_ip(i), paths.host_dir(host_name(i))
    m = {"H": h, "IP": ip, "D": d, "BASE": paths.base}
    sshd_changed = write(os.path.join(d, "ssh", "sshd_config"), template("sshd_config.in", m))
    if kind == "nginx":
        for sub in ("conf", "conf.d", "logs", "tmp"):
            mkdir(os.path.join(d, "nginx", sub))
        m["DENY_DOTFILES"] = template("nginx-deny-dotfiles.in", m).rstrip("\n") if deny else ""
        web_changed = write(os.path.join(d, "nginx", "conf", "nginx.conf"), template("nginx.conf.in", m))
    else:
        for sub in ("conf", "conf.d", "logs", "run", "htdocs"):
            mkdir(os.path.join(d, "apache", sub))
        write(os.path.join(d, "apache", "htdocs", "http.txt"), "%s http\n" % h)
        write(os.path.join(d, "apache", "htdocs", "https.txt"), "%s https\n" % h)
        m["DENY_DOTFILES"] = template("httpd-deny-dotfiles.in", m).rstrip("\n") if deny else ""
        web_changed = write(os.path.join(d, "apache", "conf", "httpd.conf"), template("httpd.conf.in", m))
    return sshd_changed, web_changed


# --------------------------------------------------------------------------------------
# up
# --------------------------------------------------------------------------------------

def ensure_host(paths, i, kind, deny, started):
    """Host i's key material and configs; (re)start its sshd now and launch its web server if needed.

    Returns (PortChecks, web_start): web_start is None, or what finish_web_start() needs once every
    host has been launched (the daemonising starts run in parallel).
    """
    h = host_name(i)
    ensure_host_material(paths, i)
    sshd_changed, web_changed = render_host(paths, i, kind, deny)
    checks = []

    ssh = sshd(paths, i)
    pid = ssh.pid()
    if pid and sshd_changed:
        stop_pids(ssh.pids(pid))
        pid = None
    if not pid:
        pid = ssh.start([binary("sshd"), "-D", "-f", os.path.join(paths.host_dir(h), "ssh", "sshd_config"),
                         "-E", ssh.log])
        started.append(ssh.label)
    checks += ssh.checks(pid)

    other = "nginx" if kind == "apache" else "apache"
    if web(paths, i, other).pid():
        stop_web(paths, i, other)
    server = web(paths, i, kind)
    info = web_info(paths, h, kind)
    wpid = server.pid()
    if wpid and web_changed:
        stop_web(paths, i, kind)
        wpid = None
    if wpid:
        server.record(wpid)
        return checks + server.checks(wpid), None
    rm(info["server_pidfile"])
    server.check_free()
    start_log = os.path.join(paths.logs, "%s-%s-start.log" % (kind, h))
    with open(start_log, "ab") as out:
        out.write(("%s $ %s\n" % (now(), shlex.join(info["start"]))).encode())
        out.flush()
        # nginx / apache2 -k start daemonize: this process exits once the master is forked
        p = subprocess.Popen(info["start"], stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.STDOUT, start_new_session=True,
                             env=daemon_env(paths), cwd=paths.host_dir(h))
    started.append(server.label)
    return checks, (i, kind, p, start_log)


def finish_web_start(paths, web_start):
    """Wait for a launched web server to daemonise and write its PID file; returns its PortChecks."""
    i, kind, p, start_log = web_start
    h = host_name(i)
    server = web(paths, i, kind)
    info = web_info(paths, h, kind)
    try:
        rc = p.wait(timeout=PORT_TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "timeout"
    if rc != 0:
        fail("%s of %s failed to start (exit %s): %s" % (kind, h, rc, shlex.join(info["start"])),
             start_log, info["log"])
    deadline = time.monotonic() + PORT_TIMEOUT
    while True:
        wpid = server.pid()
        if wpid:
            break
        if time.monotonic() > deadline:
            fail("%s of %s started but wrote no pid file %s" % (kind, h, info["server_pidfile"]),
                 info["log"], start_log)
        time.sleep(0.02)
    server.record(wpid)
    return server.checks(wpid, logs=[info["log"], start_log])


# --------------------------------------------------------------------------------------
# down and status
# --------------------------------------------------------------------------------------

def host_processes(paths):
    """(label, [pids]) of every running sshd and web server of every host dir, hosts beyond the
    inventory included."""
    out = []
    for i in known_host_indexes(paths):
        ssh = sshd(paths, i)
        pids = ssh.pids()
        if pids:
            out.append((ssh.label, pids))
        for kind in WEB_SERVERS:
            server = web(paths, i, kind)
            pids = server.pids()
            if pids:
                out.append((server.label, pids))
    return out


def host_status(paths, kinds):
    """{hostN: {ip, sshd, web}}; `kinds` (from rig.json) names the server of a host whose web server is down."""
    out = {}
    for i in known_host_indexes(paths):
        h = host_name(i)
        entry = {"ip": host_ip(i), "sshd": sshd(paths, i).status()}
        for kind in WEB_SERVERS:
            wpid = web(paths, i, kind).pid()
            if wpid:
                entry["web"] = {"pid": wpid, "alive": True, "kind": kind}
        if "web" not in entry:
            entry["web"] = {"pid": None, "alive": False, "kind": kinds.get(h)}
        out[h] = entry
    return out


# --------------------------------------------------------------------------------------
# reset-hosts
# --------------------------------------------------------------------------------------

def reset_hosts(base=None):
    """Put every host back to its first state: `live` -> placeholder, no releases, no staged key,
    no challenge files, no site config in conf.d. Tests call it so that each starts from plain, self-signed HTTPS."""
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
        # Site configs that tests or the web roles dropped in: a host's first state has none.
        for conf_dir in (os.path.join(d, "nginx", "conf.d"), os.path.join(d, "apache", "conf.d")):
            for name in os.listdir(conf_dir) if os.path.isdir(conf_dir) else []:
                if os.path.isfile(os.path.join(conf_dir, name)):
                    os.unlink(os.path.join(conf_dir, name))
        done.append(h)
    # Reload the running servers so that what they *serve* is the placeholder again, and wait for it.
    kinds = {}
    try:
        with open(paths.state) as f:
            kinds = json.load(f).get("kinds", {})
    except (OSError, ValueError):
        pass
    for h, kind in sorted(kinds.items()):
        if h not in done or not kind or not web_pid(paths, h, kind):
            continue
        with open(os.path.join(paths.host_dir(h), "ssl", "placeholder", "fullchain.pem")) as f:
            want = ssl.PEM_cert_to_DER_cert(f.read())
        # Apache's graceful reload can be lost when it lands while the server is still starting (right after
        # `up`): one more reload before calling it a failure.
        # The first handshake that gets the placeholder ends the wait: during a graceful reload the old workers
        # still answer some connections with the old certificate for a moment, so a second look may not.
        for attempt in (1, 2):
            run(paths, web_info(paths, h, kind)["reload"], "reload %s" % h)
            deadline, served = time.monotonic() + 10, False
            while not served and time.monotonic() < deadline:
                served = served_der(host_ip(_index(h))) == want
                if not served:
                    time.sleep(0.05)
            if served:
                break
            if attempt == 2:
                fail("%s still serves another certificate after two reloads" % h, web_info(paths, h, kind)["log"])
    return {"base": paths.base, "reset": done}


def served_der(ip):
    """DER of the certificate ip:443 serves (unverified), or None."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((ip, 443), timeout=2) as sock:
            with context.wrap_socket(sock) as tls:
                return tls.getpeercert(binary_form=True)
    except OSError:
        return None

