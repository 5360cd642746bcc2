"""Business logic over committed scans: facts and monitoring, fees, ledger, accounts, COD, orders, reports."""
