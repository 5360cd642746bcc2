"""Other people's implementations, loaded with ctypes, to prove ours against (tests, bench).

Each module raises :class:`drivers.e1_card.errors.BackendError` with the reason when its
library cannot be loaded, so callers can skip cleanly.
"""
