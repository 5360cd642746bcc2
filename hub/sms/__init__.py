"""SMS on the hub: templates, a durable send queue with quiet hours, opt-out, per-number rate
limits and retries, delivery reports, statistics, and the notices scans trigger.  docs/sms.md."""
