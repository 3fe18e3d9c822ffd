-- The customer id an identity belongs to: the user it is linked to, or itself.
SELECT coalesce((SELECT user_id FROM identity_links WHERE anonymous_id = $1), $1);
