"""The hub's record of gun images: the fleet tables and building a site's image from the store."""
