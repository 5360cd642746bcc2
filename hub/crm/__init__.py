"""The CRM on the hub (customers, caller lookup, telephone orders, work orders, SMS): the home of
the CRM issues.  The only hub package that may drive a GSM modem."""
