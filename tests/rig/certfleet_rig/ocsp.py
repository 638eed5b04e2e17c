"""The rig's OCSP responder: a CA whose certificates name the responder in AIA, answered by OpenSSL's own code.

Pebble 2.4 has no OCSP. So the rig has its own small CA (<base>/ocsp/ca.pem, made with the openssl tool
like the rest of the rig's key material: the system python3 has no `cryptography`) and answers OCSP for it
with `openssl ocsp -index ... -reqin ... -respout ...`, run once per request. OpenSSL 3.0's
`openssl ocsp -port` cannot bind to one address (it listens on every interface), so the listener is a small
loopback-only HTTP front (http.server on OCSP_LISTEN, run by /usr/bin/python3) that hands each request to
openssl. It takes POST (RFC 6960 A.1, what Apache and our module send) and GET (base64 in the path).

Files, under <base>/ocsp/:
  ca.pem ca.key                  the rig OCSP CA (EC P-256; CN "certfleet rig OCSP CA")
  responder.pem responder.key    the delegated responder: signed by the CA, EKU OCSPSigning, ocsp-nocheck
  impostor.pem impostor.key      self-signed with the CA's own name and another key (mode wrong_key)
  index.txt                      `openssl ca`-style index: V (valid) or R (revoked) per issued serial
  mode.json                      how the front answers (read per request, see MODES)
  issued/<SERIAL>.pem            every certificate issued or registered
  tmp/                           one directory per request, removed after it

Python API (re-exported by rig.py): ensure_ocsp(), ocsp_issue(), ocsp_register(), ocsp_revoke(), ocsp_mode(),
ocsp_status(). `up` starts the front too (one small process; the key material is made once).
"""

import base64
import calendar
import contextlib
import fcntl
import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

from .errors import RigError, fail
from .files import log, mkdir, rm, write
from .packages import binary
from .paths import Paths
from .processes import OwnedProcess, daemon_env, locked, run, wait_ports

OCSP_LISTEN = ("127.0.0.1", 6960)  # 6960: the RFC's number; free among the rig's ports (see README table)
RESPONDER_URL = "http://%s:%d/" % OCSP_LISTEN
CA_SUBJECT = "/CN=certfleet rig OCSP CA"
DEFAULT_MINUTES = 1440  # nextUpdate = thisUpdate + 1 day, like a real responder's short-lived answers
STALE_SHIFT = "-2d"  # mode stale: answers made at now - 2 days, valid for 1 day, so next_update is a day past
MAX_REQUEST = 64 * 1024
RIG_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/rig: where certfleet_rig lives

# How the front answers; all but `delegated` and `ca` are faults for tests.
MODES = {
    "delegated": "signed by the delegated responder (responder.pem, EKU OCSPSigning, issued by the CA)",
    "ca": "signed by the CA itself",
    "wrong_key": "signed by an impostor: the CA's name, another key (a bad signature for any client)",
    "stale": "made 2 days ago and valid for 1 day (faketime): next_update is a day past",
}
REASONS = ("unspecified", "keyCompromise", "CACompromise", "affiliationChanged", "superseded",
           "cessationOfOperation", "certificateHold", "removeFromCRL")  # what `openssl ocsp -index` understands


class OcspFiles:
    """The files of the rig's OCSP CA and responder (see the module docstring)."""

    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        j = functools.partial(os.path.join, self.dir)
        self.ca_pem, self.ca_key = j("ca.pem"), j("ca.key")
        self.responder_pem, self.responder_key = j("responder.pem"), j("responder.key")
        self.impostor_pem, self.impostor_key = j("impostor.pem"), j("impostor.key")
        self.index, self.index_attr, self.index_lock = j("index.txt"), j("index.txt.attr"), j("index.lock")
        self.mode, self.issued, self.tmp = j("mode.json"), j("issued"), j("tmp")

    def read_mode(self):
        try:
            with open(self.mode) as f:
                state = json.load(f)
        except (OSError, ValueError):
            state = {}
        return state.get("mode", "delegated"), int(state.get("minutes", DEFAULT_MINUTES))

    def signer(self, mode):
        if mode == "ca":
            return self.ca_pem, self.ca_key
        if mode == "wrong_key":
            return self.impostor_pem, self.impostor_key
        return self.responder_pem, self.responder_key

    def responder_argv(self, mode, minutes, request, response):
        """The openssl command that answers one request in this mode."""
        signer_pem, signer_key = self.signer(mode)
        argv = [binary("openssl"), "ocsp", "-index", self.index, "-CA", self.ca_pem, "-rsigner", signer_pem,
                "-rkey", signer_key, "-reqin", request, "-respout", response]
        if mode == "stale":
            return [binary("faketime"), "-f", STALE_SHIFT] + argv + ["-ndays", "1"]
        return argv + ["-nmin", str(minutes)]


def files_of(paths):
    return OcspFiles(os.path.join(paths.base, "ocsp"))


def python3():
    """The interpreter of the front: Debian's own python3 (the managed hosts' interpreter too)."""
    return binary("python3")


def responder(paths):
    """The front as an OwnedProcess (run/ocsp.pid, logs/ocsp.log; its exe is the resolved python3)."""
    exe = os.path.basename(os.path.realpath(binary("python3", required=False) or "/usr/bin/python3"))
    return OwnedProcess(paths, "ocsp", exe=exe, what="OCSP responder front", ports=[OCSP_LISTEN])


# --------------------------------------------------------------------------------------
# key material (openssl tool, once)
# --------------------------------------------------------------------------------------

def _openssl_out(paths, argv, what):
    """Run openssl and return its stdout (logged to rig.log with the command); RigError on failure."""
    proc = subprocess.run([binary("openssl")] + argv, capture_output=True, text=True, timeout=60, check=False,
                          env=dict(os.environ, LC_ALL="C"))
    log(paths, "openssl %s -> %d" % (" ".join(argv), proc.returncode))
    if proc.returncode != 0:
        fail("%s failed (exit %d): openssl %s: %s" % (what, proc.returncode, " ".join(argv), proc.stderr.strip()),
             paths.rig_log)
    return proc.stdout


def _new_key(paths, path):
    rm(path)
    old = os.umask(0o077)
    try:
        run(paths, [binary("openssl"), "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", path], "OCSP key generation (%s)" % os.path.basename(path))
    finally:
        os.umask(old)
    os.chmod(path, 0o600)


def _random_serial():
    """120 random bits, the top one set: positive, 15 bytes, unique in practice (CA/B Forum asks for 64 bits)."""
    return "0x%x" % (secrets.randbits(120) | (1 << 119))


def ensure_ocsp_ca(paths):
    """The CA, the delegated responder and the impostor, made once and kept across down/up."""
    f = files_of(paths)
    mkdir(f.dir, 0o700)
    for d in (f.issued, f.tmp):
        mkdir(d)
    if not os.path.exists(f.index):
        write(f.index, "")
    write(f.index_attr, "unique_subject = no\n")
    needed = (f.ca_pem, f.ca_key, f.responder_pem, f.responder_key, f.impostor_pem, f.impostor_key)
    if all(os.path.exists(p) for p in needed):
        return False
    openssl = binary("openssl")
    for key in (f.ca_key, f.responder_key, f.impostor_key):
        _new_key(paths, key)
    ca_ext = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
              "-addext", "subjectKeyIdentifier=hash"]
    run(paths, [openssl, "req", "-x509", "-new", "-key", f.ca_key, "-days", "3650", "-subj", CA_SUBJECT,
                "-out", f.ca_pem] + ca_ext, "OCSP CA certificate")
    run(paths, [openssl, "req", "-x509", "-new", "-key", f.impostor_key, "-days", "3650", "-subj", CA_SUBJECT,
                "-out", f.impostor_pem] + ca_ext, "OCSP impostor certificate")
    with tempfile.TemporaryDirectory(dir=f.tmp) as work:
        csr, ext = os.path.join(work, "responder.csr"), os.path.join(work, "responder.ext")
        write(ext, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=OCSPSigning\nnoCheck=ignored\nauthorityKeyIdentifier=keyid\n")
        run(paths, [openssl, "req", "-new", "-key", f.responder_key, "-subj", "/CN=certfleet rig OCSP responder",
                    "-out", csr], "OCSP responder CSR")
        run(paths, [openssl, "x509", "-req", "-in", csr, "-CA", f.ca_pem, "-CAkey", f.ca_key,
                    "-set_serial", _random_serial(), "-days", "3650", "-extfile", ext, "-out", f.responder_pem],
            "OCSP responder certificate")
    for pem in (f.ca_pem, f.responder_pem, f.impostor_pem):
        os.chmod(pem, 0o644)
    log(paths, "OCSP CA, delegated responder and impostor created in %s" % f.dir)
    return True


# --------------------------------------------------------------------------------------
# the index (what the responder knows)
# --------------------------------------------------------------------------------------

@contextlib.contextmanager
def _index_locked(f):
    with open(f.index_lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def index_serial(serial):
    """The index's spelling of a serial (int, or hex with or without 0x/colons): uppercase, whole bytes."""
    if isinstance(serial, int):
        value = serial
    else:
        try:
            value = int(str(serial).lower().replace(":", "").replace("0x", ""), 16)
        except ValueError:
            raise RigError("serial %r is not a hex number" % serial)
    text = "%X" % value
    return "0" * (len(text) % 2) + text


def _index_time(epoch):
    """UTCTime before 2050, GeneralizedTime after (RFC 5280 §4.1.2.5), as `openssl ca` writes them."""
    t = time.gmtime(epoch)
    return time.strftime("%y%m%d%H%M%SZ" if t.tm_year < 2050 else "%Y%m%d%H%M%SZ", t)


def _read_index(f):
    with open(f.index) as handle:
        return [line.rstrip("\n").split("\t") for line in handle if line.strip()]


def _write_index(f, rows):
    write(f.index, "".join("\t".join(row) + "\n" for row in rows))


def ocsp_register(cert_pem, base=None):
    """Add a certificate the rig OCSP CA issued (from ocsp_issue, or from fakeacme issuing with the CA) to the
    responder's index as valid. Returns {"serial": lowercase hex, "index_serial": ...}. Idempotent."""
    paths = Paths(base)
    f = files_of(paths)
    with tempfile.NamedTemporaryFile("w", dir=f.tmp, suffix=".pem", delete=False) as handle:
        handle.write(cert_pem if isinstance(cert_pem, str) else cert_pem.decode())
        cert_path = handle.name
    try:
        out = _openssl_out(paths, ["x509", "-in", cert_path, "-noout", "-serial", "-enddate", "-subject",
                                   "-issuer", "-nameopt", "compat"], "reading a certificate to register")
    finally:
        rm(cert_path)
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    if fields.get("issuer") != CA_SUBJECT:
        raise RigError("certificate %s is issued by %s, not by the rig OCSP CA (%s): the responder would answer "
                       "'unknown'" % (fields.get("subject"), fields.get("issuer"), CA_SUBJECT))
    serial = index_serial(fields["serial"])
    expiry = calendar.timegm(time.strptime(fields["notAfter"], "%b %d %H:%M:%S %Y GMT"))
    with _index_locked(f):
        rows = [row for row in _read_index(f) if row[3] != serial]
        rows.append(["V", _index_time(expiry), "", serial, "unknown", fields["subject"].replace("\t", " ")])
        _write_index(f, rows)
    write(os.path.join(f.issued, serial + ".pem"), cert_pem)
    return {"serial": "%x" % int(serial, 16), "index_serial": serial}


def ocsp_revoke(serial, reason="keyCompromise", base=None):
    """Mark a serial revoked in the responder's index (now, with `reason`); the next answer says `revoked`."""
    if reason not in REASONS:
        raise RigError("revocation reason %r is not one of %s" % (reason, ", ".join(REASONS)))
    paths = Paths(base)
    f = files_of(paths)
    wanted = index_serial(serial)
    revoked_at = time.time()
    with _index_locked(f):
        rows = _read_index(f) if os.path.exists(f.index) else []
        hits = [row for row in rows if row[3] == wanted]
        if not hits:
            raise RigError("serial %s is not in the rig OCSP index %s: issue it with ocsp_issue() (or register a "
                           "certificate of the rig OCSP CA with ocsp_register()) first" % (wanted, f.index))
        for row in hits:
            row[0], row[2] = "R", "%s,%s" % (_index_time(revoked_at), reason)
        _write_index(f, rows)
    log(paths, "OCSP: revoked serial %s (%s)" % (wanted, reason))
    return {"serial": "%x" % int(wanted, 16), "reason": reason,
            "revoked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(revoked_at)))}


def ocsp_mode(mode="delegated", minutes=DEFAULT_MINUTES, base=None):
    """Switch how the responder answers from the next request on (MODES); returns the previous setting.

    `minutes`: validity of good answers (nextUpdate - thisUpdate); the stale mode ignores it.
    """
    if mode not in MODES:
        raise RigError("OCSP mode %r is not one of %s" % (mode, ", ".join(MODES)))
    if int(minutes) <= 0:
        raise RigError("minutes must be > 0, got %s" % minutes)
    f = files_of(Paths(base))
    previous = f.read_mode()
    mkdir(f.dir, 0o700)
    write(f.mode, json.dumps({"mode": mode, "minutes": int(minutes)}) + "\n")
    return {"mode": mode, "minutes": int(minutes), "previous": {"mode": previous[0], "minutes": previous[1]}}


# --------------------------------------------------------------------------------------
# issuing (tests; fakeacme issues through the same CA)
# --------------------------------------------------------------------------------------

def ocsp_issue(names, key_pem=None, csr_pem=None, days=90, ocsp_url=True, base=None):
    """A leaf certificate of the rig OCSP CA for DNS `names`, registered as valid in the responder's index.

    The key: `csr_pem` (its public key is certified), else `key_pem`, else a new EC P-256 key that is returned.
    `ocsp_url=False` leaves the OCSP URL out of AIA (a certificate with nothing to staple). Returns
    serial (lowercase hex), cert_pem, chain_pem (the CA), fullchain_pem, key_pem (only a generated key),
    cert_path, ca_pem (path), responder_url (None without ocsp_url).
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise RigError("ocsp_issue needs at least one DNS name")
    paths = Paths(base)
    ensure_ocsp_ca(paths)
    f = files_of(paths)
    openssl = binary("openssl")
    generated = None
    with tempfile.TemporaryDirectory(dir=f.tmp) as work:
        csr, ext, out = (os.path.join(work, n) for n in ("leaf.csr", "leaf.ext", "leaf.pem"))
        if csr_pem:
            write(csr, csr_pem)
        else:
            key = os.path.join(work, "leaf.key")
            if key_pem:
                write(key, key_pem, mode=0o600)
            else:
                _new_key(paths, key)
                with open(key) as handle:
                    generated = handle.read()
            run(paths, [openssl, "req", "-new", "-key", key, "-subj", "/CN=%s" % names[0], "-out", csr],
                "CSR for %s" % names[0])
        lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
                 "extendedKeyUsage=serverAuth", "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid",
                 "subjectAltName=" + ",".join("DNS:%s" % n for n in names)]
        if ocsp_url:
            lines.append("authorityInfoAccess=OCSP;URI:%s" % RESPONDER_URL)
        write(ext, "\n".join(lines) + "\n")
        run(paths, [openssl, "x509", "-req", "-in", csr, "-CA", f.ca_pem, "-CAkey", f.ca_key, "-set_serial",
                    _random_serial(), "-days", str(int(days)), "-extfile", ext, "-out", out],
            "OCSP CA issuing for %s" % names)
        with open(out) as handle:
            cert_pem = handle.read()
    registered = ocsp_register(cert_pem, base=paths.base)
    with open(f.ca_pem) as handle:
        ca_pem = handle.read()
    return {"serial": registered["serial"], "names": names, "cert_pem": cert_pem, "chain_pem": ca_pem,
            "fullchain_pem": cert_pem + ca_pem, "key_pem": generated,
            "cert_path": os.path.join(f.issued, registered["index_serial"] + ".pem"), "ca_pem": f.ca_pem,
            "responder_url": RESPONDER_URL if ocsp_url else None}


def ocsp_fakeacme_issuer(base=None):
    """What tests/fakeacme.py needs to issue with the rig OCSP CA: FakeAcme(issuing_ca=rig.ocsp_fakeacme_issuer())."""
    paths = Paths(base)
    ensure_ocsp_ca(paths)
    f = files_of(paths)
    with open(f.ca_pem) as ca_handle, open(f.ca_key) as key_handle:
        return {"cert_pem": ca_handle.read(), "key_pem": key_handle.read(), "ocsp_url": RESPONDER_URL,
                "on_issue": lambda pem: ocsp_register(pem, base=paths.base)}


# --------------------------------------------------------------------------------------
# the process
# --------------------------------------------------------------------------------------

def ensure_ocsp_responder(paths, started):
    """Key material, then the front (if it does not run); returns the PortChecks for up() to wait on."""
    ensure_ocsp_ca(paths)
    binary("openssl")
    proc = responder(paths)
    pid = proc.pid()
    if not pid:
        f = files_of(paths)
        code = ("import sys; sys.path.insert(0, %r); from certfleet_rig.ocsp import serve; serve(sys.argv[1])"
                % RIG_DIR)
        pid = proc.start([python3(), "-c", code, f.dir + "/"],
                         env=daemon_env(paths, {"PYTHONDONTWRITEBYTECODE": "1"}))
        started.append(proc.label)
    return proc.checks(pid)


def ensure_ocsp(base=None):
    """Start the responder on demand (idempotent; `up` starts it too). Returns what tests need to know."""
    paths = Paths(base)
    started = []
    with locked(paths):
        mkdir(paths.run)
        mkdir(paths.logs)
        wait_ports(ensure_ocsp_responder(paths, started))
    return ocsp_status(base=paths.base, started=started)


def ocsp_status(base=None, started=None):
    paths = Paths(base)
    f = files_of(paths)
    mode, minutes = f.read_mode()
    out = dict(responder(paths).status(), responder_url=RESPONDER_URL, ca_pem=f.ca_pem, index=f.index,
               mode=mode, minutes=minutes, log=paths.log_file("ocsp"))
    if started is not None:
        out["started"] = started
    return out


def answer(f, request_der):
    """(HTTP status, content type, body) for one DER request, from `openssl ocsp` in the current mode."""
    mode, minutes = f.read_mode()
    work = tempfile.mkdtemp(dir=f.tmp)
    try:
        request, response = os.path.join(work, "req.der"), os.path.join(work, "resp.der")
        with open(request, "wb") as handle:
            handle.write(request_der)
        try:
            proc = subprocess.run(f.responder_argv(mode, minutes, request, response), capture_output=True,
                                  timeout=20, check=False)
        except (OSError, subprocess.TimeoutExpired, RigError) as error:
            return 500, "text/plain", ("cannot run openssl ocsp: %s\n" % error).encode()
        sys.stdout.write("%s mode=%s openssl ocsp exit %d %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), mode,
                                                                   proc.returncode, proc.stderr.decode()[-300:]))
        if proc.returncode != 0 or not os.path.exists(response):
            return 500, "text/plain", b"openssl ocsp failed: " + proc.stderr[-2000:]
        with open(response, "rb") as handle:
            return 200, "application/ocsp-response", handle.read()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def serve(directory):
    """The front's main loop (in its own /usr/bin/python3 process): 127.0.0.1 only, one openssl per request."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # pylint: disable=import-outside-toplevel

    f = OcspFiles(directory)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # pylint: disable=arguments-differ
            sys.stdout.write("%s %s %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), self.address_string(), fmt % args))
            sys.stdout.flush()

        def reply(self, status, ctype, body):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # pylint: disable=invalid-name
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_REQUEST:
                return self.reply(400, "text/plain", b"POST an OCSP request (RFC 6960 A.1)\n")
            return self.reply(*answer(f, self.rfile.read(length)))

        def do_GET(self):  # pylint: disable=invalid-name
            encoded = urllib.parse.unquote(self.path.lstrip("/"))
            try:
                request_der = base64.b64decode(encoded, validate=True)
            except ValueError:
                request_der = b""
            if not request_der:
                return self.reply(400, "text/plain", b"GET /<base64 of a DER OCSP request> (RFC 6960 A.1)\n")
            return self.reply(*answer(f, request_der))

    server = ThreadingHTTPServer(OCSP_LISTEN, Handler)
    sys.stdout.write("%s OCSP front on %s for %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), RESPONDER_URL, f.dir))
    sys.stdout.flush()
    server.serve_forever()


# --------------------------------------------------------------------------------------
# command line (cli.py adds these sub-commands)
# --------------------------------------------------------------------------------------

def add_cli(sub, common):
    """`rig.py ocsp`, `ocsp-issue`, `ocsp-revoke`, `ocsp-mode`."""
    sub.add_parser("ocsp", parents=[common], help="start the OCSP responder (if needed) and print its status")
    issue = sub.add_parser("ocsp-issue", parents=[common], help="issue a leaf of the rig OCSP CA (prints PEMs)")
    issue.add_argument("names", nargs="+", metavar="NAME")
    issue.add_argument("--days", type=int, default=90)
    issue.add_argument("--no-ocsp-url", action="store_true", help="leave the OCSP URL out of AIA")
    revoke = sub.add_parser("ocsp-revoke", parents=[common], help="mark SERIAL (hex) revoked in the OCSP index")
    revoke.add_argument("serial")
    revoke.add_argument("--reason", default="keyCompromise", choices=REASONS)
    mode = sub.add_parser("ocsp-mode", parents=[common], help="switch how the OCSP responder answers")
    mode.add_argument("mode", choices=sorted(MODES))
    mode.add_argument("--minutes", type=int, default=DEFAULT_MINUTES, help="validity of good answers")


def run_cli(args):
    """The result of an ocsp sub-command, or None when `args.cmd` is not one of them."""
    if args.cmd == "ocsp":
        return ensure_ocsp(base=args.base)
    if args.cmd == "ocsp-issue":
        return ocsp_issue(args.names, days=args.days, ocsp_url=not args.no_ocsp_url, base=args.base)
    if args.cmd == "ocsp-revoke":
        return ocsp_revoke(args.serial, reason=args.reason, base=args.base)
    if args.cmd == "ocsp-mode":
        return ocsp_mode(args.mode, minutes=args.minutes, base=args.base)
    return None
