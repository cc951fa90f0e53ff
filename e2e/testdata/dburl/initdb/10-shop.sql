-- The demo's database layout for rotation with a real overlap (DEMO VALUES ONLY): the owner role shop
-- owns the database and every object in it and cannot log in; two login roles take turns, both members
-- of shop and acting as it (SET role), so whatever either creates belongs to shop. shop_a starts active
-- with the password in .env; shop_b waits without LOGIN. rekey rotates DB_PASSWORD by giving the
-- inactive role the new password, moving the app to it, and disabling the old one.
CREATE ROLE shop NOLOGIN;
CREATE DATABASE shop OWNER shop;
CREATE ROLE shop_a LOGIN PASSWORD 'demo-only-db-password-41c9e2d7' IN ROLE shop;
CREATE ROLE shop_b NOLOGIN IN ROLE shop;
ALTER ROLE shop_a SET role = 'shop';
ALTER ROLE shop_b SET role = 'shop';
