"""Where everything of one rig lives: the base dir layout, host names and addresses."""

import os

# the templates stay next to rig.py (tests/rig/templates), one level above this package
TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "templates")

DEFAULT_BASE = "/tmp/certfleet/rig"
DEFAULT_COLLECTIONS = "/tmp/certfleet/collections"
MAX_HOSTS = 254


def default_base():
    return os.path.abspath(os.environ.get("CERTFLEET_RIG") or DEFAULT_BASE)


class Paths:
    """Every file and directory of the rig under one base dir.

    A new service keeps its files under the base dir too: `pid_file(name)` and `log_file(name)` give
    the conventional run/<name>.pid and logs/<name>.log (see processes.OwnedProcess), and its own
    directory (config, data) goes beside pebble/ and ssh/.
    """

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

    def pid_file(self, name):
        """run/<name>.pid: where the rig records the PID of the process it started as `name`."""
        return os.path.join(self.run, "%s.pid" % name)

    def log_file(self, name):
        """logs/<name>.log: stdout and stderr of the process started as `name`."""
        return os.path.join(self.logs, "%s.log" % name)


def host_name(i):
    return "host%d" % i


def host_ip(i):
    return "127.0.1.%d" % i


def known_host_indexes(paths):
    """Indexes N of every hosts/hostN directory: hosts of earlier, larger `up`s included."""
    out = []
    if os.path.isdir(paths.hosts):
        for n in os.listdir(paths.hosts):
            if n.startswith("host") and n[4:].isdigit():
                out.append(int(n[4:]))
    return sorted(out)
