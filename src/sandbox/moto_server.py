"""Runs moto's S3, IAM and STS server over TLS for the atlas-pl-export sandbox.

Real S3 evaluates the `aws:SecureTransport` condition key of bucket policies; moto does not know the
`Bool` condition operator and ignores the condition, so a statement that denies requests without TLS
denies every object call. This launcher teaches moto that one key: a request that arrived over TLS
has `aws:SecureTransport` true, one over plain HTTP false, and bucket-policy statements whose
condition does not hold do not apply. Everything else is moto's own behaviour.

Usage: python3 moto_server.py --host 127.0.0.1 --port 5000 --cert-file ca.pem [--plain-port 5001]
The certificate (for 127.0.0.1 and localhost) is generated at start and written to --cert-file so
clients can trust it (AWS_CA_BUNDLE or NODE_EXTRA_CA_CERTS). A line "ready" is printed when serving.

The server never outlives the process that started it: a watchdog thread exits when the parent
process is gone (killed with SIGKILL, or its terminal closed), so no orphaned moto keeps its ports.
"""

import argparse
import datetime
import fnmatch
import ipaddress
import json
import os
import sys
import tempfile
import threading
import time

# Exit status and stderr line ("missing-module: NAME", or "incompatible-module: NAME" for a package
# too old or too new to provide what is imported here), which src/sandbox/moto.ts reads to say what
# to install (moto[server] brings cryptography and werkzeug along).
MISSING_MODULE_EXIT = 3

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from werkzeug.serving import make_server

    from moto.iam.access_control import PermissionResult
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.s3 import models as s3_models
except ModuleNotFoundError as error:
    sys.stderr.write("missing-module: %s\n" % (error.name or "moto").split(".")[0])
    sys.exit(MISSING_MODULE_EXIT)
except ImportError as error:
    sys.stderr.write("incompatible-module: %s\n" % (error.name or "moto").split(".")[0])
    sys.exit(MISSING_MODULE_EXIT)

_request = threading.local()


def _as_list(value):
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _matches(patterns, value):
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in _as_list(patterns))


def _condition_holds(condition):
    """Evaluates the condition block of a statement for the keys this launcher knows."""
    context = {"aws:securetransport": "true" if getattr(_request, "secure", False) else "false"}
    for operator, pairs in (condition or {}).items():
        base = operator.replace("IfExists", "")
        for key, expected in pairs.items():
            actual = context.get(key.lower())
            if actual is None:
                if operator.endswith("IfExists"):
                    continue
                return False
            expected_values = [str(v).lower() for v in _as_list(expected)]
            if base in ("Bool", "StringEquals", "StringEqualsIgnoreCase"):
                if actual.lower() not in expected_values:
                    return False
            elif base in ("StringNotEquals", "StringNotEqualsIgnoreCase"):
                if actual.lower() in expected_values:
                    return False
            else:
                return False
    return True


def _get_permission(self, action, resource):
    if self.policy is None:
        return PermissionResult.NEUTRAL
    document = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
    result = PermissionResult.NEUTRAL
    for statement in _as_list(document.get("Statement")):
        if "NotAction" in statement:
            if _matches(statement["NotAction"], action):
                continue
        elif not _matches(statement.get("Action"), action):
            continue
        if "Resource" in statement and not _matches(statement["Resource"], resource):
            continue
        if not _condition_holds(statement.get("Condition")):
            continue
        if statement.get("Effect") == "Deny":
            return PermissionResult.DENIED
        result = PermissionResult.PERMITTED
    return result


s3_models.FakeBucket.get_permission = _get_permission


def _make_certificate(cert_file):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "atlas-pl-export sandbox")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    with open(cert_file, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    key_fd, key_file = tempfile.mkstemp(suffix=".pem")
    with os.fdopen(key_fd, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return key_file


def _exit_when_orphaned(cert_file, interval=1.0):
    """Exits the whole process once the parent that started it has died.

    An orphan is re-parented (to init or a subreaper), so its parent pid changes; a parent that is
    gone also makes os.kill(parent, 0) fail. Either is checked once per `interval` seconds.
    """
    parent = os.getppid()

    def parent_alive():
        if os.getppid() != parent:
            return False
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True

    def watch():
        while parent_alive():
            time.sleep(interval)
        try:
            os.unlink(cert_file)
            os.rmdir(os.path.dirname(cert_file))
        except OSError:
            pass
        os._exit(0)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert-file", required=True)
    parser.add_argument("--plain-port", type=int, default=0)
    args = parser.parse_args()
    _exit_when_orphaned(args.cert_file)

    os.environ.setdefault("MOTO_PORT", str(args.port))
    app = DomainDispatcherApplication(create_backend_app)

    def scheme_aware(environ, start_response):
        _request.secure = environ.get("wsgi.url_scheme") == "https"
        return app(environ, start_response)

    key_file = _make_certificate(args.cert_file)
    servers = [
        make_server(args.host, args.port, scheme_aware, threaded=True,
                    ssl_context=(args.cert_file, key_file))
    ]
    os.unlink(key_file)
    if args.plain_port:
        servers.append(make_server(args.host, args.plain_port, scheme_aware, threaded=True))
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    print("ready", flush=True)
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
