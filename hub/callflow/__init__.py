"""Live calls through the IVR and the queues: the PBX's ``ivr FLOW`` and ``queue NAME`` targets
drive the pure IVR and ACD engines from real calls (docs/telephony.md, "IVR and queues on calls")."""
