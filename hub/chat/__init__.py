"""Online customer service: chats from the public page (and the API) routed by the same ACD
queues as calls (docs/web.md, "Online customer service")."""
