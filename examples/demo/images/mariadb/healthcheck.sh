#!/bin/sh
# Healthcheck of rekey-demo/mariadb:dev: healthy when the real server (not the
# entrypoint's temporary one, see the marker) answers a query as root over
# the unix socket. Not `mariadb-admin ping`: that exits 0 even when access is
# denied.
[ ! -e /run/mysqld/.initializing ] &&
	[ "$(mariadb --protocol=socket -uroot --batch --skip-column-names -e 'SELECT 1' 2>/dev/null)" = 1 ]
