-- Run once by the entrypoint, as root, after it created app_a (MARIADB_USER) with ALL on app.

-- app_a gets more kinds of grants than ALL on a database, so that copying them to app_b covers a role, a
-- default role and column grants (with a quote-worthy column name).
CREATE ROLE app_reader;
GRANT SELECT ON mysql.help_topic TO app_reader;
GRANT app_reader TO app_a@'%';
SET DEFAULT ROLE app_reader FOR app_a@'%';
CREATE DATABASE other;
CREATE TABLE other.t (id INT, `odd``name` INT, secret INT);
GRANT SELECT (id, `odd``name`) ON other.t TO app_a@'%';

-- app_b, the second login of the alternating mechanism: locked, with no password, and with grants of its
-- own that the first stage must replace by app_a's.
CREATE USER app_b@'%' IDENTIFIED VIA mysql_native_password USING 'invalid' ACCOUNT LOCK;
GRANT PROCESS ON *.* TO app_b@'%';
GRANT SELECT ON other.* TO app_b@'%';

-- chain, the user of the two-password chain mechanism (its initial password in a fixture).
CREATE USER chain@'%' IDENTIFIED BY 'initial-chain-pw';
GRANT ALL ON app.* TO chain@'%';

-- Admin logins without the privileges rekey needs, for the bad-config cases: through unix_socket, the
-- OS users nobody (no privilege at all) and mysql (CREATE USER only) log in as themselves.
CREATE USER nobody@localhost IDENTIFIED VIA unix_socket;
CREATE USER mysql@localhost IDENTIFIED VIA unix_socket;
GRANT CREATE USER ON *.* TO mysql@localhost;
