"""Who may use the web console and the HTTP API: users with a role (and a site for site staff),
API tokens, and the audit log of who changed what (docs/web.md, "Roles")."""
