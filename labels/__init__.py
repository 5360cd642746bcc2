"""Printable codes and labels: what goes on an operator's code sheet (``codes.py``) and how a
sheet or a waybill label is drawn as PDF or SVG (``render.py``).

Imports only ``contract``: a sheet is made from a configuration slice (a plain dict, the shape
of ``hub.network.station_config``), whoever read it — the hub's store or a station's cache.
``scanhub print`` (``printing.commands``) is the command that feeds it.
"""
