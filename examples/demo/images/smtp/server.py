# SMTP relay of rekey-demo/smtp:dev, a demo/test image (not for production): an SMTP submission server
# with AUTH that accepts mail from authenticated clients and discards it, as a stand-in for an API-key
# relay (SendGrid, Mailgun, SES…) whose keys rekey cannot create or revoke itself.
#
# - With a certificate and key mounted at /etc/smtp/tls/cert.pem and key.pem: port 587 offers STARTTLS
#   and port 465 speaks TLS from the first byte (implicit TLS); AUTH is refused before TLS.
#   Without them: port 587 only, plain, AUTH allowed in clear text (loopback tests only).
# - AUTH PLAIN and LOGIN. The valid keys are the lines of /etc/smtp/keys, "user:password" each (split at
#   the first colon; nothing is trimmed but the line end; blank lines and lines starting with # are
#   skipped). A user may have several lines: several keys valid at once, as an API-key relay has while
#   a key is being replaced. The file is read again at every AUTH, so editing it creates or revokes a key
#   at once (mount its directory, not the file, when it is replaced by a rename).
# - stdout gets one line per AUTH: "auth ok for user 'X'" or "auth failed for user 'X'" (never the
#   password), "auth refused: ..." for an AUTH the server would not even check, and one line per
#   discarded message.
#
# Environment: SMTP_KEYS_FILE (default /etc/smtp/keys), SMTP_TLS_DIR (default /etc/smtp/tls),
# SMTP_HOSTNAME (default "smtp.test", the name in the greeting; never looked up), SMTP_AUTH_MECHANISMS
# (default "PLAIN LOGIN": the mechanisms offered; "LOGIN" alone acts like relays that offer no PLAIN).
import asyncio
import hmac
import logging
import os
import signal
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

KEYS_FILE = os.environ.get("SMTP_KEYS_FILE", "/etc/smtp/keys")
TLS_DIR = os.environ.get("SMTP_TLS_DIR", "/etc/smtp/tls")
HOSTNAME = os.environ.get("SMTP_HOSTNAME", "smtp.test")
MECHANISMS = os.environ.get("SMTP_AUTH_MECHANISMS", "PLAIN LOGIN").upper().split()


def say(msg):
    print(msg, flush=True)


def shown(b):
    """A user name as it may appear in a log line: decoded, control characters and quotes escaped."""
    s = b.decode("utf-8", "replace")
    return "".join(c if c.isprintable() and c not in "'\\" else ascii(c)[1:-1] for c in s)


def keys():
    """The (user, password) pairs of the keys file, as bytes; empty when it is missing."""
    try:
        with open(KEYS_FILE, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    pairs = []
    for line in data.split(b"\n"):
        line = line.removesuffix(b"\r")
        if not line or line.startswith(b"#") or b":" not in line:
            continue
        user, _, password = line.partition(b":")
        pairs.append((user, password))
    return pairs


def authenticate(server, session, envelope, mechanism, data):
    if not isinstance(data, LoginPassword):
        say(f"auth refused: unsupported mechanism {mechanism}")
        return AuthResult(success=False, handled=False)
    ok = False
    for user, password in keys():
        # No early exit: every line is compared, whichever matches.
        if hmac.compare_digest(user, data.login) & hmac.compare_digest(password, data.password):
            ok = True
    if ok:
        say(f"auth ok for user '{shown(data.login)}' ({mechanism})")
        return AuthResult(success=True, auth_data=data.login)
    say(f"auth failed for user '{shown(data.login)}' ({mechanism})")
    # handled=False: aiosmtpd then answers 535 itself.
    return AuthResult(success=False, handled=False)


class Relay(SMTP):
    async def smtp_AUTH(self, arg):
        if self._auth_require_tls and not self._tls_protocol and self.session.extended_smtp:
            say("auth refused: AUTH before STARTTLS")
        return await super().smtp_AUTH(arg)


class Discard:
    async def handle_DATA(self, server, session, envelope):
        say(
            f"mail from <{envelope.mail_from}> to {len(envelope.rcpt_tos)} recipient(s) "
            f"discarded ({len(envelope.content or b'')} bytes, user '{shown(session.auth_data or b'')}')"
        )
        return "250 2.0.0 OK: discarded"

    async def handle_exception(self, error):
        # One line instead of aiosmtpd's traceback: a client that rejects the certificate ends up here.
        cause = error.__cause__ or error
        say(f"session error: {type(cause).__name__}: {cause}")
        return "500 5.3.0 Error: session error"


def factory(tls_context, implicit):
    def make():
        return Relay(
            Discard(),
            hostname=HOSTNAME,
            # STARTTLS on the plain port only; on 465 the connection is TLS already, which aiosmtpd does
            # not notice (it only tracks STARTTLS), so TLS is not "required" there: it is a given.
            tls_context=None if implicit else tls_context,
            auth_require_tls=tls_context is not None and not implicit,
            auth_required=True,
            authenticator=authenticate,
            auth_exclude_mechanism=[m for m in ("PLAIN", "LOGIN") if m not in MECHANISMS],
        )

    return make


async def main():
    cert, key = os.path.join(TLS_DIR, "cert.pem"), os.path.join(TLS_DIR, "key.pem")
    tls = None
    if os.path.exists(cert) and os.path.exists(key):
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(factory(tls, False), host="0.0.0.0", port=587)]
    if tls:
        servers.append(await loop.create_server(factory(tls, True), host="0.0.0.0", port=465, ssl=tls))
        say(f"listening on 587 (STARTTLS, AUTH after TLS) and 465 (implicit TLS); AUTH {' '.join(MECHANISMS)}; keys in {KEYS_FILE}")
    else:
        say(f"no certificate in {TLS_DIR}: listening on 587 only, plain, AUTH {' '.join(MECHANISMS)} in clear text; keys in {KEYS_FILE}")
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for s in servers:
        s.close()
    say("stopped")


if __name__ == "__main__":
    # aiosmtpd logs every command at INFO and warns about its own deprecations at WARNING; keep errors.
    logging.basicConfig(stream=sys.stdout, level=logging.ERROR, format="%(name)s %(levelname)s: %(message)s")
    warnings.simplefilter("ignore")
    asyncio.run(main())
