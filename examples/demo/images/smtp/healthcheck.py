# Healthcheck of rekey-demo/smtp:dev: healthy when port 587 greets with 220. It never sends AUTH: a
# healthcheck holding a key would fail (and count as a failed login) the moment the key is revoked.
import socket
import sys

try:
    with socket.create_connection(("127.0.0.1", 587), timeout=2) as s:
        s.settimeout(2)
        banner = s.recv(512)
        s.sendall(b"QUIT\r\n")
except OSError as e:
    print(f"smtp healthcheck: {e}", file=sys.stderr)
    sys.exit(1)
sys.exit(0 if banner.startswith(b"220") else 1)
