"""``scanhub print``: the command that reads a site's data (the hub's store, or a station's cached
configuration) and hands it to ``labels`` to draw.  An adapter, like ``cli.py``: nothing
imports it but the CLI."""
