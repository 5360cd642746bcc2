"""The web console (agent screen, wallboard, hub dashboard): an adapter on top, like ``hub.cli``;
a handler parses the request, calls the library, formats."""
