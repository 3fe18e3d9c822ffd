-- Erasure: the links from and to one identity.
DELETE FROM identity_links WHERE user_id = $1 OR anonymous_id = $1;
