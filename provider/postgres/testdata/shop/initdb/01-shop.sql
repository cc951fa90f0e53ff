-- The layout rekey expects (test data: the initial password is in plain text here; the server stores
-- its SCRAM verifier). The password holds a ligature and a no-break space, which SASLprep maps, so the
-- server's verifier checks rekey's SASLprep too.
CREATE ROLE shop NOLOGIN;
CREATE DATABASE shop OWNER shop;
CREATE ROLE shop_a LOGIN PASSWORD 'initial ﬁ shop pw' IN ROLE shop;
CREATE ROLE shop_b NOLOGIN IN ROLE shop;
ALTER ROLE shop_a SET role = 'shop';
ALTER ROLE shop_b SET role = 'shop';

-- For the bad configurations: a login role that is not a member of shop, and a role that is not a
-- superuser and that root inside the container logs in as over the socket (pg_ident maps root to root
-- as well as to postgres).
CREATE ROLE shop_c NOLOGIN;
ALTER ROLE shop_c SET role = 'shop';
CREATE ROLE root LOGIN;
