"""Basic data of the network: the network file, its tables, station configuration, credentials, the managed broker."""
