"""Entered waybills (录单): the waybill records stations and imports send, and the state they fold to."""
