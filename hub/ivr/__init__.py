"""The IVR: flows as data (``flow``), schedules and calendars (``schedule``), the engine that walks
a call through a flow (``engine``), reading numbers as prompts (``say``), generating prompts
(``prompts``), self-service over the hub's data (``selfservice``), the caller directory
(``directory``) and voicemail (``voicemail``, its table in ``tables``).  docs/ivr.md.
"""
