"""The admin console's data (ACCOUNTS=true): figures as SQL aggregates, tables paged in the
database, and their CSV. No Dash here; callbacks/admin.py and api/admin.py call these with
the records' engine (`Accounts.engine`).
"""
