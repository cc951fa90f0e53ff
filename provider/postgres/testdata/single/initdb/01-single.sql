-- The usual compose setup (test data: the password is in plain text here): one role, LOGIN, owning
-- the database and what the application created in it.
CREATE ROLE shop LOGIN PASSWORD 'legacy shop pw';
CREATE DATABASE shop OWNER shop;
\connect shop
SET ROLE shop;
CREATE TABLE orders (id int);
INSERT INTO orders VALUES (1);
