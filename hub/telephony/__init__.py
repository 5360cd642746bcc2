"""Telephony on the hub (calls over E1 and SIP, media, transfers, recording, CDRs): the home of the
call-center issues.  The only hub package that may drive E1 cards (``drivers.e1_card``)."""
