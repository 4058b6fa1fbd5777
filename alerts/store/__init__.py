"""Alert history in SQL (SQLAlchemy 2): the only owner of SQL in tickerpulse."""
