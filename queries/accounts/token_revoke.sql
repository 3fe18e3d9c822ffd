UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL;
