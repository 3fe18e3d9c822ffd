SELECT anonymous_id FROM identity_links;
