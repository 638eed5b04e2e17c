"""BIND 9 (named): the rig's authoritative name server, Pebble's resolver, updated by RFC 2136 with TSIG.

What it serves (127.0.0.1:5053, UDP and TCP):
  .                      the rig's own root zone: nothing is ever resolved outside the machine
  test.                  ns1.test, hostN.test -> 127.0.1.N (rewritten at every `up`), whatever tests add;
                         updates signed with TSIG key `certfleet-test` (hmac-sha256)
  acme-delegated.test.   the target zone of `_acme-challenge` CNAME delegation; its own key
                         `certfleet-acme-delegated` can update it and nothing else (and `certfleet-test`
                         cannot update it)

State lives under <base>/named/: named.conf, one BIND key file per TSIG key (0600, generated once, kept
across down/up), the zone files and their journals. Zone files are written fresh and journals removed at
every start of named, so records added by updates last until the next start, as challtestsrv's in-memory
records did. The rig itself changes records with `nsupdate` (Debian bind9-dnsutils), signed with the
main key: the collection's dnspython code is then checked against an independent client.
"""

import base64
import os
import secrets

from .errors import RigError
from .files import log, mkdir, now, rm, template, write
from .packages import binary
from .paths import Paths, host_ip, host_name
from .processes import OwnedProcess, run

NAMED_LISTEN = ("127.0.0.1", 5053)
ZONE = "test"
DELEGATED_ZONE = "acme-delegated.test"
TSIG_KEY_NAME = "certfleet-test"
DELEGATED_TSIG_KEY_NAME = "certfleet-acme-delegated"
TSIG_ALGORITHM = "hmac-sha256"
NS_NAME = "ns1.test"
TTL = 30


def named_dir(paths):
    return os.path.join(paths.base, "named")


def key_file(paths, key_name):
    """<base>/named/<key name>.key: a BIND key statement, the format tsig-keygen writes and nsupdate -k reads."""
    return os.path.join(named_dir(paths), "%s.key" % key_name)


def named_conf(paths):
    return os.path.join(named_dir(paths), "named.conf")


def named(paths):
    return OwnedProcess(paths, "named", exe="named", ports=[NAMED_LISTEN])


def dns_info(paths):
    """Where the collection reaches the rig's DNS: the summary of `up` and the inventory's rig_dns_* variables."""
    return {
        "server": NAMED_LISTEN[0],
        "port": NAMED_LISTEN[1],
        "zone": ZONE,
        "tsig_key_name": TSIG_KEY_NAME,
        "tsig_key_file": key_file(paths, TSIG_KEY_NAME),
        "tsig_algorithm": TSIG_ALGORITHM,
        "delegated_zone": DELEGATED_ZONE,
        "delegated_tsig_key_name": DELEGATED_TSIG_KEY_NAME,
        "delegated_tsig_key_file": key_file(paths, DELEGATED_TSIG_KEY_NAME),
        "log": paths.log_file("named"),
    }


def ensure_tsig_keys(paths):
    """One hmac-sha256 key per zone (256 random bits), generated once; the files are 0600."""
    mkdir(named_dir(paths), 0o700)
    made = []
    for name in (TSIG_KEY_NAME, DELEGATED_TSIG_KEY_NAME):
        path = key_file(paths, name)
        if os.path.exists(path):
            os.chmod(path, 0o600)
            continue
        secret = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
        write(path, 'key "%s" {\n\talgorithm %s;\n\tsecret "%s";\n};\n' % (name, TSIG_ALGORITHM, secret), mode=0o600)
        made.append(name)
    return made


def _zone_files(paths):
    """The zone files written at every start of named: {file name: text}."""
    mapping = {"TTL": str(TTL), "NS": NS_NAME, "ADDRESS": NAMED_LISTEN[0], "DELEGATED_ZONE": DELEGATED_ZONE}
    return {
        "root.zone": template("named-root.zone.in", mapping),
        "test.zone": template("named-test.zone.in", mapping),
        "%s.zone" % DELEGATED_ZONE: template("named-delegated.zone.in", mapping),
    }


def ensure_named(paths, started):
    """Start named unless it runs (restart it when named.conf changed); returns the PortChecks for up()."""
    ensure_tsig_keys(paths)
    d = named_dir(paths)
    changed = write(named_conf(paths), template("named.conf.in", {
        "DIR": d, "PORT": str(NAMED_LISTEN[1]), "ADDRESS": NAMED_LISTEN[0],
        "TEST_KEY_FILE": key_file(paths, TSIG_KEY_NAME), "TEST_KEY_NAME": TSIG_KEY_NAME,
        "DELEGATED_KEY_FILE": key_file(paths, DELEGATED_TSIG_KEY_NAME), "DELEGATED_KEY_NAME": DELEGATED_TSIG_KEY_NAME,
        "DELEGATED_ZONE": DELEGATED_ZONE,
    }))
    proc = named(paths)
    pid = proc.pid()
    if pid and changed:
        log(paths, "named.conf changed: restarting named")
        if proc.stop():
            raise RigError("could not stop named (pid %d); see %s" % (pid, proc.log))
        pid = None
    if not pid:
        # a fresh start forgets earlier updates: new zone files, no journals
        for name, text in _zone_files(paths).items():
            write(os.path.join(d, name), text)
            rm(os.path.join(d, name + ".jnl"))
        # -g: foreground, log to stderr (logs/named.log); -4: IPv4 only; as root, no -u
        pid = proc.start([binary("named"), "-g", "-4", "-c", named_conf(paths)])
        started.append(proc.label)
    return proc.checks(pid)


# --------------------------------------------------------------------------------------
# records, through nsupdate (RFC 2136, TSIG)
# --------------------------------------------------------------------------------------

def zone_of(name):
    """(zone, key name) of a rig name; RigError for a name the rig's BIND cannot update."""
    fqdn = name.rstrip(".").lower()
    for zone, key in ((DELEGATED_ZONE, DELEGATED_TSIG_KEY_NAME), (ZONE, TSIG_KEY_NAME)):
        if fqdn == zone or fqdn.endswith("." + zone):
            return zone, key
    raise RigError("%r is in no zone of the rig's BIND (%s, %s)" % (name, ZONE, DELEGATED_ZONE))


def nsupdate(paths, zone, key_name, commands, what):
    """Send one update (the `update ...` lines in `commands`) to named with nsupdate -k, over TCP."""
    script = ["server %s %d" % NAMED_LISTEN, "zone %s." % zone] + list(commands) + ["send", ""]
    path = os.path.join(named_dir(paths), "nsupdate.%d.txt" % os.getpid())
    write(path, "\n".join(script), mode=0o600)
    try:
        run(paths, [binary("nsupdate"), "-v", "-t", "10", "-k", key_file(paths, key_name), path],
            "nsupdate (%s)" % what, log=paths.log_file("nsupdate"))
    finally:
        rm(path)


def set_records(paths, name, rtype, values, ttl=TTL):
    """Replace the `rtype` RRset of `name` by `values` (presentation format, e.g. '0 issue "ca.example"',
    TXT values quoted); an empty list deletes it. Returns dict(name, type, values)."""
    fqdn = name.rstrip(".") + "."
    zone, key = zone_of(fqdn)
    lines = ["update delete %s %s" % (fqdn, rtype)]
    lines += ["update add %s %d %s %s" % (fqdn, int(ttl), rtype, v) for v in values]
    nsupdate(paths, zone, key, lines, "%s %s" % (fqdn, rtype))
    log(paths, "dns: %s %s -> %s" % (fqdn, rtype, list(values)))
    return {"name": fqdn.rstrip("."), "type": rtype, "values": list(values)}


def set_host_records(paths, n):
    """hostN.test A 127.0.1.N for 1..n, in one update (each RRset replaced)."""
    lines = []
    for i in range(1, n + 1):
        fqdn = "%s.%s." % (host_name(i), ZONE)
        lines += ["update delete %s A" % fqdn, "update add %s %d A %s" % (fqdn, TTL, host_ip(i))]
    if lines:
        nsupdate(paths, ZONE, TSIG_KEY_NAME, lines, "hosts 1..%d" % n)


def set_dns_records(name, rtype, values, ttl=TTL, base=None):
    """Python API: replace the `rtype` records of `name` in the rig's BIND (values in presentation format; an
    empty list deletes them). Records added this way are gone after `down`."""
    return set_records(Paths(base), name, rtype, list(values), ttl)


def delegate_acme_challenge(domain, base=None):
    """Python API: `_acme-challenge.DOMAIN CNAME _acme-challenge.DOMAIN.acme-delegated.test.` (the CNAME
    delegation pattern). Returns dict(record, target, zone, tsig_key_name, tsig_key_file)."""
    paths = Paths(base)
    record = "_acme-challenge.%s" % domain.rstrip(".")
    target = "%s.%s" % (record, DELEGATED_ZONE)
    set_records(paths, record, "CNAME", [target + "."])
    return {"record": record, "target": target, "zone": DELEGATED_ZONE,
            "tsig_key_name": DELEGATED_TSIG_KEY_NAME, "tsig_key_file": key_file(paths, DELEGATED_TSIG_KEY_NAME)}


def named_log_mark(base=None):
    """Current end of logs/named.log (queries and updates): pass `offset` to named_log_since()."""
    path = Paths(base).log_file("named")
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    return {"path": path, "offset": size, "time": now()}


def named_log_since(offset, base=None):
    with open(Paths(base).log_file("named"), "rb") as f:
        f.seek(int(offset))
        return f.read().decode("utf-8", "replace")
